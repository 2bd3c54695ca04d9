-- The write path no longer queues a delivery job per event: graphile-worker's add_jobs cost about as much as the rest
-- of an ingest. The transaction writes the event and its deliveries (the outbox) and notifies the channel
-- webhook_deliveries (delivered on commit, and only then). Each service instance listens, and queues the job
-- webhooks.dispatch (one key for the whole cluster), which queues the delivery jobs of the deliveries not queued yet,
-- many in one add_jobs call, and marks them queued in the same transaction. A notification nobody heard (no instance
-- running) is made up for by the dispatch every instance queues when it starts listening, and by the one queued every
-- minute.
--
-- The migration runner splits scripts at every semicolon, even inside comments and function bodies, so the PL/pgSQL
-- body below is an E-string with its semicolons written \x3b.

-- AlterTable
ALTER TABLE "webhook_deliveries" ADD COLUMN     "queued" BOOLEAN NOT NULL DEFAULT false;

-- Deliveries written before this migration have their jobs.
UPDATE "webhook_deliveries" SET "queued" = true;

-- CreateIndex
CREATE INDEX "webhook_deliveries_unqueued_idx" ON "webhook_deliveries"("seq") WHERE NOT "queued";

CREATE OR REPLACE FUNCTION emit_webhook_events(events jsonb) RETURNS void LANGUAGE plpgsql AS E'
BEGIN
  WITH wanted AS (
    SELECT e.* FROM (
      SELECT (x.item ->> ''organizationId'')::uuid AS "organizationId", x.item ->> ''topic'' AS topic, x.item ->> ''subject'' AS subject,
        x.item -> ''body'' AS body, x.ord
      FROM jsonb_array_elements(events) WITH ORDINALITY AS x(item, ord)) e
    WHERE EXISTS (SELECT FROM webhooks w WHERE w.organization_id = e."organizationId" AND w.enabled AND w.events && ARRAY[e.topic, ''*''])),
  written AS (
    INSERT INTO webhook_events (organization_id, topic, subject, body)
    SELECT "organizationId", topic, subject, body FROM wanted ORDER BY ord RETURNING id, seq, organization_id, topic, subject)
  INSERT INTO webhook_deliveries (webhook_id, event_id, seq, subject)
  SELECT w.id, e.id, e.seq, e.subject FROM written e
  JOIN webhooks w ON w.organization_id = e.organization_id AND w.enabled AND w.events && ARRAY[e.topic, ''*'']\x3b
  IF FOUND THEN
    PERFORM pg_notify(''webhook_deliveries'', '''')\x3b
  END IF\x3b
END';
