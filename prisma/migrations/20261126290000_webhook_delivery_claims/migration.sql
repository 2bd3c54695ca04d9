-- Webhook deliveries run in parallel across recordings: the delivery jobs leave the subscription's graphile queue
-- (whose jobs ran one at a time, the next one only at the worker's next poll: about one event per 2 s), and the order
-- of one recording's events is kept by a claim on the delivery being sent instead. A job sends only the oldest
-- pending delivery of its subject, after claiming it, and a second job for the subject finds it claimed and leaves it to
-- the first. A claim runs out (claimed_until), so a delivery whose instance died is taken up by the next job.
--
-- The migration runner splits scripts at every semicolon, even inside comments and function bodies, so the PL/pgSQL
-- body below is an E-string with its semicolons written \x3b.

-- AlterTable
ALTER TABLE "webhook_deliveries" ADD COLUMN     "claimed_until" TIMESTAMPTZ(3);

CREATE OR REPLACE FUNCTION emit_webhook_events(events jsonb) RETURNS void LANGUAGE plpgsql AS E'
DECLARE
  targets jsonb\x3b
BEGIN
  WITH wanted AS (
    SELECT e.* FROM (
      SELECT (x.item ->> ''organizationId'')::uuid AS "organizationId", x.item ->> ''topic'' AS topic, x.item ->> ''subject'' AS subject,
        x.item -> ''body'' AS body, x.ord
      FROM jsonb_array_elements(events) WITH ORDINALITY AS x(item, ord)) e
    WHERE EXISTS (SELECT FROM webhooks w WHERE w.organization_id = e."organizationId" AND w.enabled AND w.events && ARRAY[e.topic, ''*''])),
  written AS (
    INSERT INTO webhook_events (organization_id, topic, subject, body)
    SELECT "organizationId", topic, subject, body FROM wanted ORDER BY ord RETURNING id, seq, organization_id, topic, subject),
  delivering AS (
    INSERT INTO webhook_deliveries (webhook_id, event_id, seq, subject)
    SELECT w.id, e.id, e.seq, e.subject FROM written e
    JOIN webhooks w ON w.organization_id = e.organization_id AND w.enabled AND w.events && ARRAY[e.topic, ''*'']
    RETURNING webhook_id, subject)
  SELECT jsonb_agg(DISTINCT jsonb_build_object(''webhookId'', webhook_id, ''subject'', subject)) INTO targets FROM delivering\x3b
  IF targets IS NOT NULL THEN
    PERFORM graphile_worker.add_jobs(ARRAY(
      SELECT ROW(''webhooks.deliver'', json_build_object(''webhookId'', t."webhookId", ''subject'', t.subject), NULL,
        NULL, 25, ''webhook:'' || t."webhookId" || '':'' || t.subject, NULL, NULL)::graphile_worker.job_spec
      FROM jsonb_to_recordset(targets) AS t("webhookId" uuid, subject text)), true)\x3b
  END IF\x3b
END';
