-- ETags and idempotency keys.

-- Versions (the ETags of recordings and annotations) come from one sequence: a value is never handed out twice, so an
-- annotation deleted and made again under its id cannot repeat an ETag of its earlier life.
CREATE SEQUENCE "row_versions" AS BIGINT;

-- A constant default keeps the ALTER from rewriting the tables: existing rows start at version 0, new ones draw.
ALTER TABLE "recordings" ADD COLUMN "version" BIGINT NOT NULL DEFAULT 0;
ALTER TABLE "recordings" ALTER COLUMN "version" SET DEFAULT nextval('row_versions'::regclass);
ALTER TABLE "annotations" ADD COLUMN "version" BIGINT NOT NULL DEFAULT 0;
ALTER TABLE "annotations" ALTER COLUMN "version" SET DEFAULT nextval('row_versions'::regclass);

-- The migration runner splits scripts at every semicolon, even inside function bodies, so the PL/pgSQL bodies below
-- write theirs as the escape \x3b.

-- A recording gets a new version with the first write of a transaction to its row. Later writes of the same
-- transaction keep it: nobody sees the row in between. This is what lets an ingest answer the version it inserted
-- although its transcript triggers (search document) and annotations write the row again before the statement ends.
CREATE FUNCTION recordings_version() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF OLD.xmin <> pg_current_xact_id()::xid THEN
    NEW.version := nextval(''row_versions'')\x3b
  END IF\x3b
  RETURN NEW\x3b
END';
CREATE TRIGGER recordings_version BEFORE UPDATE ON "recordings" FOR EACH ROW EXECUTE FUNCTION recordings_version();

CREATE FUNCTION annotations_version() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  NEW.version := nextval(''row_versions'')\x3b
  RETURN NEW\x3b
END';
CREATE TRIGGER annotations_version BEFORE UPDATE ON "annotations" FOR EACH ROW EXECUTE FUNCTION annotations_version();

-- Annotations are part of their recording's representation: a change to them writes the recording row, which gives
-- it a new version (recordings_version). Rows already written by this transaction have theirs.
CREATE FUNCTION annotations_touch_recording() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  UPDATE recordings r SET version = r.version
  WHERE r.id IN (SELECT DISTINCT recording_id FROM changed) AND r.xmin <> pg_current_xact_id()::xid\x3b
  RETURN NULL\x3b
END';
CREATE TRIGGER annotations_inserted AFTER INSERT ON "annotations" REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION annotations_touch_recording();
CREATE TRIGGER annotations_updated AFTER UPDATE ON "annotations" REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION annotations_touch_recording();
CREATE TRIGGER annotations_deleted AFTER DELETE ON "annotations" REFERENCING OLD TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION annotations_touch_recording();

-- Idempotency keys: one row per key of a client, holding the first attempt's claim and then its answer.
CREATE TABLE "idempotency_keys" (
    "organization_id" UUID NOT NULL,
    "client_id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "claim" UUID NOT NULL,
    "claimed_at" TIMESTAMPTZ(3) NOT NULL,
    "status_code" INTEGER,
    "response_headers" JSONB,
    "response_body" TEXT,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("organization_id","client_id","key")
);

CREATE INDEX "idempotency_keys_expires_at_idx" ON "idempotency_keys"("expires_at");

ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
