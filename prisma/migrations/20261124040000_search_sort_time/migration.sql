-- Sorting by start time needs a key that is never NULL (recordings with nothing playable have no start time), so
-- keyset pages can compare (key, id) rows straight off an index. Such recordings sort at their creation time.
ALTER TABLE "recordings" ADD COLUMN "sort_time" TIMESTAMPTZ(3) GENERATED ALWAYS AS (coalesce("start_time", "creation_time")) STORED;

DROP INDEX "recordings_organization_id_start_time_id_idx";
DROP INDEX "recordings_organization_id_media_start_time_id_idx";
DROP INDEX "recordings_organization_id_media_subtype_start_time_id_idx";
DROP INDEX "recordings_organization_id_file_state_start_time_id_idx";
DROP INDEX "recordings_organization_id_recording_file_role_start_time_i_idx";
CREATE INDEX "recordings_organization_id_sort_time_id_idx" ON "recordings"("organization_id", "sort_time", "id");
CREATE INDEX "recordings_organization_id_media_sort_time_id_idx" ON "recordings"("organization_id", "media", "sort_time", "id");
CREATE INDEX "recordings_organization_id_media_subtype_sort_time_id_idx" ON "recordings"("organization_id", "media_subtype", "sort_time", "id");
CREATE INDEX "recordings_organization_id_file_state_sort_time_id_idx" ON "recordings"("organization_id", "file_state", "sort_time", "id");
CREATE INDEX "recordings_organization_id_recording_file_role_sort_time_id_idx" ON "recordings"("organization_id", "recording_file_role", "sort_time", "id");
