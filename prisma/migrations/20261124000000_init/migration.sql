-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "MediaSubtype" AS ENUM ('Trunk', 'Station', 'Consult', 'Screen', 'Snippet');

-- CreateEnum
CREATE TYPE "FileState" AS ENUM ('ARCHIVED', 'AVAILABLE', 'DELETED', 'RESTORED', 'RESTORING', 'UPLOADING', 'ERROR');

-- CreateEnum
CREATE TYPE "ArchiveMedium" AS ENUM ('CLOUDARCHIVE');

-- CreateEnum
CREATE TYPE "RecordingFileRole" AS ENUM ('CUSTOMER_EXPERIENCE', 'ADHOC');

-- CreateEnum
CREATE TYPE "RecordingErrorStatus" AS ENUM ('EMAIL_TRANSCRIPT_TOO_LARGE');

-- CreateEnum
CREATE TYPE "AnnotationReason" AS ENUM ('Hold', 'SecurePause', 'FlowOrQueue', 'Pause');

-- CreateEnum
CREATE TYPE "ChatBodyType" AS ENUM ('STANDARD', 'ACTIVITY', 'TYPING', 'NOTICE', 'MEMBERJOIN', 'MEMBERLEAVE', 'MEDIAREQUEST');

-- CreateTable
CREATE TABLE "organizations" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "organizations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "recordings" (
    "id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "conversation_id" TEXT NOT NULL,
    "name" TEXT,
    "path" TEXT,
    "start_time" TIMESTAMPTZ(3),
    "end_time" TIMESTAMPTZ(3),
    "media" TEXT,
    "media_subtype" "MediaSubtype",
    "media_subject" TEXT,
    "file_state" "FileState" NOT NULL,
    "restore_expiration_time" TIMESTAMPTZ(3),
    "estimated_transcode_time_ms" BIGINT,
    "actual_transcode_time_ms" BIGINT,
    "archive_date" TIMESTAMPTZ(3),
    "archive_medium" "ArchiveMedium",
    "delete_date" TIMESTAMPTZ(3),
    "export_date" TIMESTAMPTZ(3),
    "exported_date" TIMESTAMPTZ(3),
    "output_duration_ms" INTEGER,
    "output_size_in_bytes" INTEGER,
    "max_allowed_restorations_for_org" INTEGER NOT NULL DEFAULT 10000,
    "remaining_restorations_allowed_for_org" INTEGER NOT NULL DEFAULT 10000,
    "session_id" TEXT,
    "recording_file_role" "RecordingFileRole",
    "recording_error_status" "RecordingErrorStatus",
    "original_recording_start_time" TIMESTAMPTZ(3),
    "creation_time" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "associated_conversation_ids" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "recordings_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "annotations" (
    "id" UUID NOT NULL,
    "recording_id" UUID NOT NULL,
    "name" TEXT,
    "type" TEXT,
    "location" BIGINT,
    "duration_ms" BIGINT,
    "absolute_location" BIGINT,
    "absolute_duration_ms" BIGINT,
    "recording_location" BIGINT,
    "recording_duration_ms" BIGINT,
    "realtime_location" BIGINT,
    "user" JSONB,
    "description" VARCHAR(500),
    "reason" "AnnotationReason",
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "annotations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "chat_messages" (
    "recording_id" UUID NOT NULL,
    "ordinal" INTEGER NOT NULL,
    "message_id" TEXT,
    "body" TEXT,
    "to" TEXT,
    "from" TEXT,
    "utc" TEXT,
    "chat" TEXT,
    "message" TEXT,
    "type" TEXT,
    "body_type" "ChatBodyType",
    "sender_communication_id" TEXT,
    "participant_purpose" TEXT,
    "user" JSONB,

    CONSTRAINT "chat_messages_pkey" PRIMARY KEY ("recording_id","ordinal")
);

-- CreateTable
CREATE TABLE "email_messages" (
    "recording_id" UUID NOT NULL,
    "ordinal" INTEGER NOT NULL,
    "message_id" TEXT,
    "subject" TEXT,
    "text_body" TEXT,
    "html_body" TEXT,
    "from" JSONB,
    "to" JSONB,
    "cc" JSONB,
    "bcc" JSONB,
    "reply_to" JSONB,
    "attachments" JSONB,
    "time" TIMESTAMPTZ(3),

    CONSTRAINT "email_messages_pkey" PRIMARY KEY ("recording_id","ordinal")
);

-- CreateTable
CREATE TABLE "messaging_messages" (
    "recording_id" UUID NOT NULL,
    "ordinal" INTEGER NOT NULL,
    "message_id" TEXT,
    "timestamp" TIMESTAMPTZ(3),
    "from" TEXT,
    "purpose" TEXT,
    "content_type" TEXT,
    "message_text" TEXT,
    "data" JSONB NOT NULL,

    CONSTRAINT "messaging_messages_pkey" PRIMARY KEY ("recording_id","ordinal")
);

-- CreateTable
CREATE TABLE "media_results" (
    "recording_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "media_uri" TEXT,
    "waveform_data" DOUBLE PRECISION[] DEFAULT ARRAY[]::DOUBLE PRECISION[],

    CONSTRAINT "media_results_pkey" PRIMARY KEY ("recording_id","key")
);

-- CreateTable
CREATE TABLE "recording_users" (
    "recording_id" UUID NOT NULL,
    "ordinal" INTEGER NOT NULL,
    "user_id" TEXT,
    "name" TEXT,
    "username" TEXT,
    "email" TEXT,
    "division_id" TEXT,
    "division_name" TEXT,

    CONSTRAINT "recording_users_pkey" PRIMARY KEY ("recording_id","ordinal")
);

-- CreateIndex
CREATE UNIQUE INDEX "organizations_name_key" ON "organizations"("name");

-- CreateIndex
CREATE INDEX "recordings_organization_id_conversation_id_idx" ON "recordings"("organization_id", "conversation_id");

-- CreateIndex
CREATE INDEX "recordings_organization_id_start_time_idx" ON "recordings"("organization_id", "start_time");

-- CreateIndex
CREATE INDEX "annotations_recording_id_location_idx" ON "annotations"("recording_id", "location");

-- CreateIndex
CREATE INDEX "recording_users_user_id_idx" ON "recording_users"("user_id");

-- AddForeignKey
ALTER TABLE "recordings" ADD CONSTRAINT "recordings_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "annotations" ADD CONSTRAINT "annotations_recording_id_fkey" FOREIGN KEY ("recording_id") REFERENCES "recordings"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_recording_id_fkey" FOREIGN KEY ("recording_id") REFERENCES "recordings"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "email_messages" ADD CONSTRAINT "email_messages_recording_id_fkey" FOREIGN KEY ("recording_id") REFERENCES "recordings"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "messaging_messages" ADD CONSTRAINT "messaging_messages_recording_id_fkey" FOREIGN KEY ("recording_id") REFERENCES "recordings"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "media_results" ADD CONSTRAINT "media_results_recording_id_fkey" FOREIGN KEY ("recording_id") REFERENCES "recordings"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "recording_users" ADD CONSTRAINT "recording_users_recording_id_fkey" FOREIGN KEY ("recording_id") REFERENCES "recordings"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Every recording belongs to an organization. Until organizations are managed, all rows go to this one.
INSERT INTO "organizations" ("id", "name") VALUES ('00000000-0000-7000-8000-000000000001', 'default');
