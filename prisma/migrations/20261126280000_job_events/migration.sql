-- Webhook events of recording jobs: job.stateChanged, on creation and on each change of state, written in the
-- transaction of the change (see the webhooks migration). The job is the subject: its events arrive in order.
--
-- The migration runner splits scripts at every semicolon, even inside comments and function bodies, so the PL/pgSQL
-- bodies below are E-strings with their semicolons written \x3b.

-- The job as its events carry it: a RecordingJob's state and counters.
CREATE FUNCTION recording_job_event_body(j recording_jobs) RETURNS jsonb LANGUAGE sql STABLE AS E'
  SELECT jsonb_strip_nulls(jsonb_build_object(
    ''id'', j.id, ''state'', j.state, ''recordingJobsQuery'', jsonb_build_object(''action'', j.action),
    ''totalRecordings'', j.total_recordings, ''totalProcessedRecordings'', j.processed,
    ''totalSkippedRecordings'', j.skipped, ''totalFailedRecordings'', j.failed,
    ''selfUri'', ''/api/v2/recording/jobs/'' || j.id))
';

CREATE FUNCTION recording_jobs_state_events() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF NOT EXISTS (SELECT FROM webhooks WHERE enabled) THEN
    RETURN NULL\x3b
  END IF\x3b
  IF TG_OP = ''INSERT'' THEN
    PERFORM emit_webhook_events((SELECT jsonb_agg(jsonb_build_object(''organizationId'', n.organization_id, ''topic'', ''job.stateChanged'',
      ''subject'', ''job:'' || n.id, ''body'', recording_job_event_body(n))) FROM created_jobs n))\x3b
  ELSE
    PERFORM emit_webhook_events((SELECT jsonb_agg(jsonb_build_object(''organizationId'', n.organization_id, ''topic'', ''job.stateChanged'',
      ''subject'', ''job:'' || n.id, ''body'', recording_job_event_body(n)))
      FROM changed_jobs n JOIN previous_jobs o USING (id) WHERE n.state IS DISTINCT FROM o.state))\x3b
  END IF\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER recording_jobs_created_events AFTER INSERT ON recording_jobs
  REFERENCING NEW TABLE AS created_jobs FOR EACH STATEMENT EXECUTE FUNCTION recording_jobs_state_events();
CREATE TRIGGER recording_jobs_state_events AFTER UPDATE ON recording_jobs
  REFERENCING OLD TABLE AS previous_jobs NEW TABLE AS changed_jobs FOR EACH STATEMENT EXECUTE FUNCTION recording_jobs_state_events();
