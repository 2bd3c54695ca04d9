-- Deleting rows that name stored bytes queues the removal of those bytes, in the same transaction as the delete: the
-- delete and the job commit together or not at all, so no crash between them can leave bytes behind (or remove bytes
-- a rolled-back delete still names). The jobs run on graphile-worker (schema graphile_worker, installed by the job
-- runner of the service before it serves). One statement queues one batch, whatever deleted the rows (the API, a
-- cascade from a recording, retention).
--
-- The migration runner splits scripts at every semicolon, even inside function bodies, so the PL/pgSQL bodies below
-- are E-strings with their semicolons written \x3b.

-- Stored media: its bytes, by storage key.
CREATE FUNCTION queue_stored_media_removal() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF EXISTS (SELECT FROM gone) THEN
    PERFORM graphile_worker.add_jobs(ARRAY(
      SELECT ROW(''media.remove'', json_build_object(''storageKey'', gone.storage_key), NULL, NULL, 25, NULL, NULL, NULL)::graphile_worker.job_spec
      FROM gone))\x3b
  END IF\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER stored_media_removal AFTER DELETE ON stored_media
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION queue_stored_media_removal();

-- A recording deleted while its media was still uploading: the unfinished uploads naming it.
CREATE FUNCTION queue_upload_removal() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF EXISTS (SELECT FROM gone WHERE gone.file_state = ''UPLOADING'') THEN
    PERFORM graphile_worker.add_jobs(ARRAY(
      SELECT ROW(''uploads.remove'', json_build_object(''organizationId'', gone.organization_id, ''recordingId'', gone.id), NULL, NULL, 25, NULL, NULL, NULL)::graphile_worker.job_spec
      FROM gone WHERE gone.file_state = ''UPLOADING''))\x3b
  END IF\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER recording_upload_removal AFTER DELETE ON recordings
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION queue_upload_removal();
