-- Media bytes kept by this store for a recording (one upload per recording, immutable).
-- CreateTable
CREATE TABLE "stored_media" (
    "recording_id" UUID NOT NULL,
    "storage_key" TEXT NOT NULL,
    "content_type" TEXT NOT NULL,
    "size_in_bytes" BIGINT NOT NULL,
    "sha256" BYTEA NOT NULL,
    "duration_ms" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stored_media_pkey" PRIMARY KEY ("recording_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "stored_media_storage_key_key" ON "stored_media"("storage_key");

-- AddForeignKey
ALTER TABLE "stored_media" ADD CONSTRAINT "stored_media_recording_id_fkey" FOREIGN KEY ("recording_id") REFERENCES "recordings"("id") ON DELETE CASCADE ON UPDATE CASCADE;

