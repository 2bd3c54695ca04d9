-- Recording settings per organization, deletion protection (legal hold) and the index of the retention query.
--
-- The migration runner splits scripts at every semicolon, even inside function bodies, so the PL/pgSQL body below is
-- an E-string with its semicolons written \x3b.

CREATE TABLE "recording_settings" (
    "organization_id" UUID NOT NULL,
    "max_simultaneous_streams" INTEGER NOT NULL DEFAULT 1,
    "max_configurable_screen_recording_streams" INTEGER NOT NULL DEFAULT 5,
    "regional_recording_storage_enabled" BOOLEAN NOT NULL DEFAULT false,
    "recording_playback_url_ttl" INTEGER NOT NULL DEFAULT 60,
    "recording_batch_download_url_ttl" INTEGER NOT NULL DEFAULT 60,
    "stop_recording_when_only_external_participants" BOOLEAN NOT NULL DEFAULT false,
    "max_allowed_restorations_for_org" INTEGER NOT NULL DEFAULT 10000,
    "remaining_restorations_allowed_for_org" INTEGER NOT NULL DEFAULT 10000,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "recording_settings_pkey" PRIMARY KEY ("organization_id"),
    -- The API checks the same ranges and names the field: these only keep other writers honest.
    CONSTRAINT "recording_settings_playback_url_ttl_range" CHECK ("recording_playback_url_ttl" BETWEEN 2 AND 60),
    CONSTRAINT "recording_settings_batch_download_url_ttl_range" CHECK ("recording_batch_download_url_ttl" BETWEEN 2 AND 60)
);

CREATE TABLE "protected_conversations" (
    "organization_id" UUID NOT NULL,
    "conversation_id" TEXT NOT NULL,
    "protected_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "protected_conversations_pkey" PRIMARY KEY ("organization_id","conversation_id")
);

ALTER TABLE "recording_settings" ADD CONSTRAINT "recording_settings_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "protected_conversations" ADD CONSTRAINT "protected_conversations_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Deletion protection is kept by the database itself: whatever deletes recordings (the API, a retention sweep, a
-- hand-written statement) fails while their conversation is protected, and the whole statement with it. The SQLSTATE
-- RS409 is this store's own, so the service can answer 409 for it and nothing else.
CREATE FUNCTION refuse_protected_recording_delete() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF EXISTS (SELECT FROM protected_conversations p
             WHERE p.organization_id = OLD.organization_id AND p.conversation_id = OLD.conversation_id) THEN
    RAISE EXCEPTION ''recording % of conversation % is under deletion protection'', OLD.id, OLD.conversation_id
      USING ERRCODE = ''RS409''\x3b
  END IF\x3b
  RETURN OLD\x3b
END';
CREATE TRIGGER recordings_deletion_protection BEFORE DELETE ON "recordings"
  FOR EACH ROW EXECUTE FUNCTION refuse_protected_recording_delete();

-- The retention query: recordings kept longer than a threshold (delete date minus creation time, unbounded without a
-- delete date), in that order. The qualifying rows of an organization are one range of this index, read in order.
CREATE INDEX "recordings_retention_span_idx" ON "recordings" ("organization_id", (coalesce(extract(epoch FROM "delete_date" - "creation_time"), 'Infinity'::numeric)), "id");
