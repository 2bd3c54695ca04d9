-- Recording bulk jobs (POST /api/v2/recording/jobs): archive, delete or export the recordings a conversation query
-- selects, by setting their archive, delete or export dates. The retention sweep and the export job act on the dates.
--
-- A job is PENDING until a background job has collected its recordings (recording_job_items, one row each, written
-- with the counts and READY in one transaction), then READY until its creator executes it (PROCESSING), which is done
-- in batches: each batch is one transaction that sets the dates of the next items after the cursor of the job, adds to its
-- counters, moves the cursor and queues the next batch (or makes the job FULFILLED). A batch that dies is retried
-- from the committed cursor, so no recording is processed twice.

-- CreateEnum
CREATE TYPE "RecordingJobState" AS ENUM ('PENDING', 'READY', 'PROCESSING', 'FULFILLED', 'CANCELLED', 'FAILED');

-- CreateEnum
CREATE TYPE "RecordingJobAction" AS ENUM ('ARCHIVE', 'DELETE', 'EXPORT');

-- AlterTable
ALTER TABLE "recordings" ADD COLUMN "export_integration_id" TEXT;

-- CreateTable
CREATE TABLE "recording_jobs" (
    "id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "client_id" TEXT NOT NULL,
    "action" "RecordingJobAction" NOT NULL,
    "state" "RecordingJobState" NOT NULL DEFAULT 'PENDING',
    "query" JSONB NOT NULL,
    "total_conversations" INTEGER,
    "total_recordings" INTEGER,
    "processed" INTEGER NOT NULL DEFAULT 0,
    "skipped" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "cursor" UUID,
    "error_message" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "recording_jobs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "recording_job_items" (
    "job_id" UUID NOT NULL,
    "recording_id" UUID NOT NULL,
    "conversation_id" TEXT NOT NULL,

    CONSTRAINT "recording_job_items_pkey" PRIMARY KEY ("job_id","recording_id")
);

-- CreateTable
CREATE TABLE "recording_job_failures" (
    "job_id" UUID NOT NULL,
    "recording_id" UUID NOT NULL,
    "conversation_id" TEXT,
    "reason" TEXT NOT NULL,

    CONSTRAINT "recording_job_failures_pkey" PRIMARY KEY ("job_id","recording_id")
);

-- CreateIndex
CREATE INDEX "recording_jobs_organization_id_client_id_id_idx" ON "recording_jobs"("organization_id", "client_id", "id");

-- CreateIndex
CREATE INDEX "recording_jobs_organization_id_id_idx" ON "recording_jobs"("organization_id", "id");

-- CreateIndex
-- For the export job: recordings whose export is due and not done yet.
CREATE INDEX "recordings_export_date_idx" ON "recordings"("export_date") WHERE "exported_date" IS NULL;

-- AddForeignKey
ALTER TABLE "recording_jobs" ADD CONSTRAINT "recording_jobs_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "recording_job_items" ADD CONSTRAINT "recording_job_items_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "recording_jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "recording_job_failures" ADD CONSTRAINT "recording_job_failures_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "recording_jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
