-- Renditions: the stored original made into the formats clients ask for (formatId / mediaFormats), and waveforms.
--
-- A rendition row is inserted PENDING in the statement that queues its media.transcode job, so a rendition is never
-- asked for without the work that makes it. Rows that name bytes queue their removal when they go (the recording is
-- deleted, or its original archived), as stored media does (see the media_removal_jobs migration).
--
-- The migration runner splits scripts at every semicolon, even inside function bodies, so the PL/pgSQL bodies below
-- are E-strings with their semicolons written \x3b.

-- CreateEnum
CREATE TYPE "RenditionState" AS ENUM ('PENDING', 'READY', 'FAILED');

-- AlterTable
ALTER TABLE "stored_media" ADD COLUMN     "format" TEXT,
ADD COLUMN     "waveform_data" DOUBLE PRECISION[] DEFAULT ARRAY[]::DOUBLE PRECISION[];

-- CreateTable
CREATE TABLE "renditions" (
    "recording_id" UUID NOT NULL,
    "format" TEXT NOT NULL,
    "state" "RenditionState" NOT NULL DEFAULT 'PENDING',
    "storage_key" TEXT,
    "content_type" TEXT,
    "size_in_bytes" BIGINT,
    "duration_ms" INTEGER,
    "transcode_ms" INTEGER,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "renditions_pkey" PRIMARY KEY ("recording_id","format")
);

-- CreateIndex
CREATE UNIQUE INDEX "renditions_storage_key_key" ON "renditions"("storage_key");

-- AddForeignKey
ALTER TABLE "renditions" ADD CONSTRAINT "renditions_recording_id_fkey" FOREIGN KEY ("recording_id") REFERENCES "stored_media"("recording_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Renditions that go take their bytes with them.
CREATE FUNCTION queue_rendition_removal() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF EXISTS (SELECT FROM gone WHERE gone.storage_key IS NOT NULL) THEN
    PERFORM graphile_worker.add_jobs(ARRAY(
      SELECT ROW(''media.remove'', json_build_object(''storageKey'', gone.storage_key), NULL, NULL, 25, NULL, NULL, NULL)::graphile_worker.job_spec
      FROM gone WHERE gone.storage_key IS NOT NULL))\x3b
  END IF\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER rendition_removal AFTER DELETE ON renditions
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION queue_rendition_removal();

-- Archived media is not played: its renditions go (and are made again on request once it is restored).
CREATE FUNCTION remove_renditions_of_archived() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  DELETE FROM renditions WHERE recording_id IN (
    SELECT moved.recording_id FROM moved JOIN unmoved USING (recording_id) WHERE unmoved.archived_at IS NULL AND moved.archived_at IS NOT NULL)\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER stored_media_archived_renditions AFTER UPDATE ON stored_media
  REFERENCING OLD TABLE AS unmoved NEW TABLE AS moved FOR EACH STATEMENT EXECUTE FUNCTION remove_renditions_of_archived();

-- New stored media: its waveform, computed once.
CREATE FUNCTION queue_waveform() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  PERFORM graphile_worker.add_jobs(ARRAY(
    SELECT ROW(''media.waveform'', json_build_object(''storageKey'', added.storage_key), NULL, NULL, 10, NULL, NULL, NULL)::graphile_worker.job_spec
    FROM added WHERE added.content_type ~ ''^(audio|video)/''))\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER stored_media_waveform AFTER INSERT ON stored_media
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION queue_waveform();
