-- Batch download requests (POST /api/v2/recording/batchrequests) and their results.
--
-- A request and the job that resolves it are written in one transaction, and the job writes every result and sets
-- completed_at in one transaction. Results keep the storage key of stored media, never a URL (URLs expire: they are
-- signed when the results are read). Requests older than 7 days are deleted by the hourly batchDownloads.expire job.

-- CreateTable
CREATE TABLE "batch_downloads" (
    "id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "client_id" TEXT NOT NULL,
    "items" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "batch_downloads_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "batch_download_results" (
    "batch_id" UUID NOT NULL,
    "ordinal" INTEGER NOT NULL,
    "conversation_id" TEXT NOT NULL,
    "recording_id" TEXT,
    "storage_key" TEXT,
    "content_type" TEXT,
    "linked_uri" TEXT,
    "error_msg" TEXT,

    CONSTRAINT "batch_download_results_pkey" PRIMARY KEY ("batch_id","ordinal"),
    -- A result is a download (stored or linked) or an error, never both nor neither.
    CONSTRAINT "batch_download_results_one_outcome" CHECK (num_nonnulls("storage_key", "linked_uri", "error_msg") = 1)
);

-- CreateIndex
CREATE INDEX "batch_downloads_organization_id_idx" ON "batch_downloads"("organization_id");

-- CreateIndex
CREATE INDEX "batch_downloads_created_at_idx" ON "batch_downloads"("created_at");

-- AddForeignKey
ALTER TABLE "batch_downloads" ADD CONSTRAINT "batch_downloads_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "batch_download_results" ADD CONSTRAINT "batch_download_results_batch_id_fkey" FOREIGN KEY ("batch_id") REFERENCES "batch_downloads"("id") ON DELETE CASCADE ON UPDATE CASCADE;
