-- Writing deliveries no longer notifies: a NOTIFY makes its transaction's commit wait for every other notifying
-- commit (PostgreSQL serializes them under one lock, through their WAL flush), which halved the rate of concurrent
-- event writes. The instances that run jobs look for deliveries not queued yet instead (a partial index makes that
-- nearly free) and queue the dispatch when there are some. An empty list of events returns at once.
--
-- The migration runner splits scripts at every semicolon, even inside comments and function bodies, so the PL/pgSQL
-- body below is an E-string with its semicolons written \x3b.

CREATE OR REPLACE FUNCTION emit_webhook_events(events jsonb) RETURNS void LANGUAGE plpgsql AS E'
BEGIN
  IF events IS NULL THEN
    RETURN\x3b
  END IF\x3b
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
END';
