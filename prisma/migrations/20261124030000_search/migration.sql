-- Organization-wide search: indexes for every filter and sort, and a full-text document per recording.

-- Sorts and filters, each led by the organization
DROP INDEX "recordings_organization_id_start_time_idx";
CREATE INDEX "recordings_organization_id_start_time_id_idx" ON "recordings"("organization_id", "start_time", "id");
CREATE INDEX "recordings_organization_id_creation_time_id_idx" ON "recordings"("organization_id", "creation_time", "id");
CREATE INDEX "recordings_organization_id_media_start_time_id_idx" ON "recordings"("organization_id", "media", "start_time", "id");
CREATE INDEX "recordings_organization_id_media_subtype_start_time_id_idx" ON "recordings"("organization_id", "media_subtype", "start_time", "id");
CREATE INDEX "recordings_organization_id_file_state_start_time_id_idx" ON "recordings"("organization_id", "file_state", "start_time", "id");
CREATE INDEX "recordings_organization_id_recording_file_role_start_time_i_idx" ON "recordings"("organization_id", "recording_file_role", "start_time", "id");
CREATE INDEX "recordings_organization_id_archive_date_idx" ON "recordings"("organization_id", "archive_date");
CREATE INDEX "recordings_organization_id_delete_date_idx" ON "recordings"("organization_id", "delete_date");

-- Recordings of one user: the organization is repeated on the user rows so the index can lead with it
ALTER TABLE "recording_users" ADD COLUMN "organization_id" UUID;
UPDATE "recording_users" u SET "organization_id" = r."organization_id" FROM "recordings" r WHERE r."id" = u."recording_id";
ALTER TABLE "recording_users" ALTER COLUMN "organization_id" SET NOT NULL;
DROP INDEX "recording_users_user_id_idx";
CREATE INDEX "recording_users_organization_id_user_id_idx" ON "recording_users"("organization_id", "user_id");

-- Settings the database itself reads
CREATE TABLE "settings" (
    "name" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    CONSTRAINT "settings_pkey" PRIMARY KEY ("name")
);
INSERT INTO "settings" ("name", "value") VALUES ('search_language', 'simple');

-- The text search configuration in use: `simple` matches words literally, in any language
CREATE FUNCTION recording_search_config() RETURNS regconfig LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT "value" FROM "settings" WHERE "name" = 'search_language'), 'simple')::regconfig
$$;

-- Full-text document of a recording: its name and subject (weight A), e-mail subjects (B), and the text of its
-- chat, e-mail and messaging transcripts
CREATE FUNCTION recording_search_document(recording uuid, name text, subject text) RETURNS tsvector LANGUAGE sql STABLE AS $$
  SELECT
    setweight(to_tsvector(recording_search_config(), coalesce(name, '') || ' ' || coalesce(subject, '')), 'A')
    || setweight(to_tsvector(recording_search_config(), coalesce((SELECT string_agg(e."subject", ' ' ORDER BY e."ordinal") FROM "email_messages" e WHERE e."recording_id" = recording), '')), 'B')
    || to_tsvector(recording_search_config(), coalesce((SELECT string_agg(c."body", ' ' ORDER BY c."ordinal") FROM "chat_messages" c WHERE c."recording_id" = recording), ''))
    || to_tsvector(recording_search_config(), coalesce((SELECT string_agg(e."text_body", ' ' ORDER BY e."ordinal") FROM "email_messages" e WHERE e."recording_id" = recording), ''))
    || to_tsvector(recording_search_config(), coalesce((SELECT string_agg(m."message_text", ' ' ORDER BY m."ordinal") FROM "messaging_messages" m WHERE m."recording_id" = recording), ''))
$$;

ALTER TABLE "recordings" ADD COLUMN "search_vector" tsvector;

-- The migration runner splits scripts at every semicolon, even inside function bodies, so the PL/pgSQL bodies below
-- write theirs as the escape \x3b.

-- A new or renamed recording gets its document at once
CREATE FUNCTION recordings_search() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  NEW.search_vector := recording_search_document(NEW.id, NEW.name, NEW.media_subject)\x3b
  RETURN NEW\x3b
END';
CREATE TRIGGER recordings_search BEFORE INSERT OR UPDATE OF "name", "media_subject" ON "recordings"
  FOR EACH ROW EXECUTE FUNCTION recordings_search();

-- Transcript rows arrive after their recording (one statement per table at ingest): their recordings' documents are
-- rebuilt once per statement
CREATE FUNCTION transcript_search() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  UPDATE recordings r SET search_vector = recording_search_document(r.id, r.name, r.media_subject)
  WHERE r.id IN (SELECT DISTINCT recording_id FROM new_rows)\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER chat_messages_search AFTER INSERT ON "chat_messages" REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION transcript_search();
CREATE TRIGGER email_messages_search AFTER INSERT ON "email_messages" REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION transcript_search();
CREATE TRIGGER messaging_messages_search AFTER INSERT ON "messaging_messages" REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION transcript_search();

UPDATE "recordings" SET "search_vector" = recording_search_document("id", "name", "media_subject");

-- btree_gin lets the full-text index lead with the organization as well
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX "recordings_organization_id_search_vector_idx" ON "recordings" USING gin ("organization_id", "search_vector");
