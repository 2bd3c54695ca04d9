-- Webhooks: subscriptions of an organization to change events, an outbox of those events, and their deliveries.
--
-- Events are written by triggers, in the transaction of the change they report: a committed change always has its
-- event, a rolled-back one never does, whatever made it (the API, the retention sweep, a cascade, a job). Each event is
-- written only when an enabled subscription of its organization wants it, with one delivery per such subscription and
-- the job that delivers it (graphile-worker, in the queue of the subscription, one job per subscription and subject),
-- so that the events of one recording reach each subscription in order.
--
-- The migration runner splits scripts at every semicolon, even inside function bodies, so the PL/pgSQL bodies below
-- are E-strings with their semicolons written \x3b.

-- CreateEnum
CREATE TYPE "WebhookDeliveryState" AS ENUM ('PENDING', 'DELIVERED', 'FAILED');

-- CreateTable
CREATE TABLE "webhooks" (
    "id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "events" TEXT[],
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "secret" TEXT NOT NULL,
    "disabled_reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhooks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_events" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "seq" BIGSERIAL NOT NULL,
    "organization_id" UUID NOT NULL,
    "topic" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "body" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_deliveries" (
    "webhook_id" UUID NOT NULL,
    "event_id" UUID NOT NULL,
    "seq" BIGINT NOT NULL,
    "subject" TEXT NOT NULL,
    "state" "WebhookDeliveryState" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_attempt_at" TIMESTAMPTZ(3),
    "last_status" INTEGER,
    "last_error" TEXT,
    "last_duration_ms" INTEGER,
    "delivered_at" TIMESTAMPTZ(3),

    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("webhook_id","event_id")
);

-- CreateIndex
CREATE INDEX "webhooks_organization_id_idx" ON "webhooks"("organization_id");

-- CreateIndex
CREATE INDEX "webhook_events_created_at_idx" ON "webhook_events"("created_at");

-- CreateIndex
CREATE INDEX "webhook_deliveries_webhook_id_subject_state_seq_idx" ON "webhook_deliveries"("webhook_id", "subject", "state", "seq");

-- CreateIndex
CREATE INDEX "webhook_deliveries_webhook_id_seq_idx" ON "webhook_deliveries"("webhook_id", "seq");

-- AddForeignKey
ALTER TABLE "webhooks" ADD CONSTRAINT "webhooks_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_webhook_id_fkey" FOREIGN KEY ("webhook_id") REFERENCES "webhooks"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_event_id_fkey" FOREIGN KEY ("event_id") REFERENCES "webhook_events"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Writes events (a jsonb array of {organizationId, topic, subject, body}) for the enabled subscriptions that want them,
-- with their deliveries and delivery jobs. Events no subscription wants are not written.
CREATE FUNCTION emit_webhook_events(events jsonb) RETURNS void LANGUAGE plpgsql AS E'
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
      SELECT ROW(''webhooks.deliver'', json_build_object(''webhookId'', t."webhookId", ''subject'', t.subject), ''webhook:'' || t."webhookId",
        NULL, 25, ''webhook:'' || t."webhookId" || '':'' || t.subject, NULL, NULL)::graphile_worker.job_spec
      FROM jsonb_to_recordset(targets) AS t("webhookId" uuid, subject text)), true)\x3b
  END IF\x3b
END';

-- The recording as events carry it: its metadata (no transcripts, annotations or media).
CREATE FUNCTION recording_event_body(r recordings) RETURNS jsonb LANGUAGE sql STABLE AS E'
  SELECT jsonb_strip_nulls(jsonb_build_object(
    ''id'', r.id, ''conversationId'', r.conversation_id, ''name'', r.name, ''media'', r.media, ''mediaSubtype'', r.media_subtype,
    ''fileState'', r.file_state,
    ''startTime'', to_char(r.start_time AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.MS"Z"''),
    ''endTime'', to_char(r.end_time AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.MS"Z"''),
    ''archiveDate'', to_char(r.archive_date AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.MS"Z"''),
    ''deleteDate'', to_char(r.delete_date AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.MS"Z"''),
    ''restoreExpirationTime'', to_char(r.restore_expiration_time AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.MS"Z"''),
    ''creationTime'', to_char(r.creation_time AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.MS"Z"''),
    ''selfUri'', ''/api/v2/conversations/'' || r.conversation_id || ''/recordings/'' || r.id))
';

-- Recording events: created, media available, retention changed, archived, restored, deleted.
CREATE FUNCTION recordings_inserted_events() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF EXISTS (SELECT FROM webhooks WHERE enabled) THEN
    PERFORM emit_webhook_events((SELECT jsonb_agg(jsonb_build_object(''organizationId'', n.organization_id, ''topic'', ''recording.created'',
      ''subject'', n.id, ''body'', recording_event_body(n))) FROM added n))\x3b
  END IF\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER recordings_inserted_events AFTER INSERT ON recordings
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION recordings_inserted_events();

CREATE FUNCTION recordings_updated_events() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF EXISTS (SELECT FROM webhooks WHERE enabled) THEN
    PERFORM emit_webhook_events((SELECT jsonb_agg(jsonb_build_object(''organizationId'', n.organization_id, ''topic'', t.topic,
      ''subject'', n.id, ''body'', recording_event_body(n)) ORDER BY n.id, t.ord)
      FROM changed_to n JOIN changed_from o USING (id)
      CROSS JOIN LATERAL (VALUES
        (1, ''recording.mediaAvailable'', o.file_state = ''UPLOADING'' AND n.file_state = ''AVAILABLE''),
        (2, ''recording.retentionChanged'', o.archive_date IS DISTINCT FROM n.archive_date OR o.delete_date IS DISTINCT FROM n.delete_date),
        (3, ''recording.archived'', o.file_state <> ''ARCHIVED'' AND n.file_state = ''ARCHIVED''),
        (4, ''recording.restored'', o.file_state <> ''RESTORED'' AND n.file_state = ''RESTORED'')) AS t(ord, topic, happened)
      WHERE t.happened))\x3b
  END IF\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER recordings_updated_events AFTER UPDATE ON recordings
  REFERENCING OLD TABLE AS changed_from NEW TABLE AS changed_to FOR EACH STATEMENT EXECUTE FUNCTION recordings_updated_events();

CREATE FUNCTION recordings_deleted_events() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF EXISTS (SELECT FROM webhooks WHERE enabled) THEN
    PERFORM emit_webhook_events((SELECT jsonb_agg(jsonb_build_object(''organizationId'', o.organization_id, ''topic'', ''recording.deleted'',
      ''subject'', o.id, ''body'', recording_event_body(o))) FROM gone o))\x3b
  END IF\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER recordings_deleted_events AFTER DELETE ON recordings
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION recordings_deleted_events();

-- A rendition made: the recording, and the format it can now be played in.
CREATE FUNCTION renditions_ready_events() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF EXISTS (SELECT FROM webhooks WHERE enabled) THEN
    PERFORM emit_webhook_events((SELECT jsonb_agg(jsonb_build_object(''organizationId'', r.organization_id, ''topic'', ''recording.renditionReady'',
      ''subject'', r.id, ''body'', recording_event_body(r) || jsonb_build_object(''format'', n.format)))
      FROM made n JOIN unmade o USING (recording_id, format) JOIN recordings r ON r.id = n.recording_id
      WHERE o.state <> ''READY'' AND n.state = ''READY''))\x3b
  END IF\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER renditions_ready_events AFTER UPDATE ON renditions
  REFERENCING OLD TABLE AS unmade NEW TABLE AS made FOR EACH STATEMENT EXECUTE FUNCTION renditions_ready_events();

-- Annotations as events carry them, with the recording they belong to. Annotations written with their recording (an
-- ingest: the recording row is this transaction's) are not reported, nor those deleted with it (a cascade):
-- recording.created and recording.deleted are. (annotations_created_events runs before annotations_inserted, which
-- touches the recording: triggers of one event run in name order.)
CREATE FUNCTION annotation_event_body(a annotations, r recordings) RETURNS jsonb LANGUAGE sql STABLE AS E'
  SELECT jsonb_strip_nulls(jsonb_build_object(
    ''id'', a.id, ''name'', a.name, ''type'', a.type, ''location'', a.location, ''durationMs'', a.duration_ms,
    ''description'', a.description, ''reason'', a.reason, ''recordingId'', r.id, ''conversationId'', r.conversation_id,
    ''selfUri'', ''/api/v2/conversations/'' || r.conversation_id || ''/recordings/'' || r.id || ''/annotations/'' || a.id))
';

CREATE FUNCTION annotations_events() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF EXISTS (SELECT FROM webhooks WHERE enabled) THEN
    IF TG_OP = ''DELETE'' THEN
      PERFORM emit_webhook_events((SELECT jsonb_agg(jsonb_build_object(''organizationId'', r.organization_id, ''topic'', ''annotation.deleted'',
        ''subject'', r.id, ''body'', annotation_event_body(a, r))) FROM gone_annotations a JOIN recordings r ON r.id = a.recording_id))\x3b
    ELSE
      PERFORM emit_webhook_events((SELECT jsonb_agg(jsonb_build_object(''organizationId'', r.organization_id,
        ''topic'', CASE TG_OP WHEN ''INSERT'' THEN ''annotation.created'' ELSE ''annotation.updated'' END,
        ''subject'', r.id, ''body'', annotation_event_body(a, r))) FROM new_annotations a JOIN recordings r ON r.id = a.recording_id
        WHERE TG_OP = ''UPDATE'' OR r.xmin <> pg_current_xact_id()::xid))\x3b
    END IF\x3b
  END IF\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER annotations_created_events AFTER INSERT ON annotations
  REFERENCING NEW TABLE AS new_annotations FOR EACH STATEMENT EXECUTE FUNCTION annotations_events();
CREATE TRIGGER annotations_updated_events AFTER UPDATE ON annotations
  REFERENCING NEW TABLE AS new_annotations FOR EACH STATEMENT EXECUTE FUNCTION annotations_events();
CREATE TRIGGER annotations_deleted_events AFTER DELETE ON annotations
  REFERENCING OLD TABLE AS gone_annotations FOR EACH STATEMENT EXECUTE FUNCTION annotations_events();
