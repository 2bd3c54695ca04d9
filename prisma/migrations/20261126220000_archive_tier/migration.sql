-- The retention sweep and the archive tier.
--
-- Stored media moved to the archive tier is marked (archived_at) in the transaction that makes its recording ARCHIVED,
-- after its bytes are complete in the archive tier. The same transaction queues the removal of the hot copy, so a
-- crash can leave bytes in both tiers for a while, but never an ARCHIVED recording whose bytes are in neither.
--
-- The migration runner splits scripts at every semicolon, even inside function bodies, so the PL/pgSQL body below is
-- an E-string with its semicolons written \x3b.

-- AlterTable
ALTER TABLE "stored_media" ADD COLUMN     "archived_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "recordings_delete_date_idx" ON "recordings"("delete_date");

-- CreateIndex
CREATE INDEX "recordings_file_state_archive_date_idx" ON "recordings"("file_state", "archive_date");

-- Stored media newly marked archived: the removal of its hot copy, by storage key, one batch per statement.
CREATE FUNCTION queue_hot_copy_removal() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF EXISTS (SELECT FROM moved JOIN unmoved USING (recording_id) WHERE unmoved.archived_at IS NULL AND moved.archived_at IS NOT NULL) THEN
    PERFORM graphile_worker.add_jobs(ARRAY(
      SELECT ROW(''media.removeHot'', json_build_object(''storageKey'', moved.storage_key), NULL, NULL, 25, NULL, NULL, NULL)::graphile_worker.job_spec
      FROM moved JOIN unmoved USING (recording_id) WHERE unmoved.archived_at IS NULL AND moved.archived_at IS NOT NULL))\x3b
  END IF\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER stored_media_hot_copy_removal AFTER UPDATE ON stored_media
  REFERENCING OLD TABLE AS unmoved NEW TABLE AS moved FOR EACH STATEMENT EXECUTE FUNCTION queue_hot_copy_removal();
