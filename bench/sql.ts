// SQL of the hand-written baseline: one statement per endpoint, in which PostgreSQL builds the whole JSON answer
// (the same shape as the service's Recording, see src/services/recording-mapper.ts) and Node passes the text through.

/** ISO-8601 in UTC with milliseconds, as `Date#toISOString()` writes it. */
const iso = (expr: string) => `to_char((${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/** A UUIDv7 (time-ordered, like the service's ids), written out because PostgreSQL 15 has no uuidv7(). */
export const UUID7 =
  `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing ` +
  `substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid`

/** A stored User reference as the service answers it (with selfUris), from jsonb `u` or from columns. */
function userFromJson(u: string) {
  return `CASE WHEN ${u} IS NOT NULL THEN json_build_object(
    'id', ${u}->>'id', 'name', ${u}->>'name', 'username', ${u}->>'username', 'email', ${u}->>'email',
    'division', CASE WHEN jsonb_typeof(${u}->'division') = 'object' THEN json_build_object(
      'id', ${u}->'division'->>'id', 'name', ${u}->'division'->>'name',
      'selfUri', '/api/v2/authorization/divisions/' || nullif(${u}->'division'->>'id', '')) END,
    'selfUri', '/api/v2/users/' || nullif(${u}->>'id', '')) END`
}

/** The annotations of recording `r`, in the service's order (location, then id). */
function annotationsJson(r: string, from: string, where = ''): string {
  const self = `('/api/v2/conversations/' || ${r}.conversation_id || '/recordings/' || ${r}.id)`
  return `(SELECT json_agg(json_build_object(
        'id', a.id, 'name', a.name, 'type', a.type, 'location', a.location, 'durationMs', a.duration_ms,
        'absoluteLocation', a.absolute_location, 'absoluteDurationMs', a.absolute_duration_ms,
        'recordingLocation', a.recording_location, 'recordingDurationMs', a.recording_duration_ms,
        'realtimeLocation', a.realtime_location, 'user', ${userFromJson('a."user"')}, 'description', a.description,
        'reason', a.reason, 'selfUri', ${self} || '/annotations/' || a.id) ORDER BY a.location, a.id)
      FROM ${from} a WHERE a.recording_id = ${r}.id ${where})`
}

/** Where the children of a recording come from: the tables, or the CTEs of the ingest statement. */
export interface Sources {
  annotations: string
  chat: string
  email: string
  messaging: string
  media: string
  users: string
}
const TABLES: Sources = {
  annotations: 'annotations',
  chat: 'chat_messages',
  email: 'email_messages',
  messaging: 'messaging_messages',
  media: 'media_results',
  users: 'recording_users',
}

/** JSON of the recording row `r` with its children; nulls are stripped once around the whole answer. */
export function recordingJson(r: string, from: Sources = TABLES): string {
  const self = `('/api/v2/conversations/' || ${r}.conversation_id || '/recordings/' || ${r}.id)`
  return `json_build_object(
    'id', ${r}.id, 'name', ${r}.name, 'conversationId', ${r}.conversation_id, 'path', ${r}.path,
    'startTime', ${iso(`${r}.start_time`)}, 'endTime', ${iso(`${r}.end_time`)},
    'media', ${r}.media, 'mediaSubtype', ${r}.media_subtype, 'mediaSubject', ${r}.media_subject,
    'annotations', ${annotationsJson(r, from.annotations)},
    'transcript', (SELECT json_agg(json_build_object(
        'body', c.body, 'id', c.message_id, 'to', c."to", 'from', c."from", 'utc', c.utc, 'chat', c.chat,
        'message', c.message, 'type', c.type, 'bodyType', c.body_type, 'senderCommunicationId', c.sender_communication_id,
        'participantPurpose', c.participant_purpose, 'user', c."user") ORDER BY c.ordinal)
      FROM ${from.chat} c WHERE c.recording_id = ${r}.id),
    'emailTranscript', (SELECT json_agg(json_build_object(
        'htmlBody', e.html_body, 'textBody', e.text_body, 'id', e.message_id, 'to', e."to", 'cc', e.cc, 'bcc', e.bcc,
        'from', e."from", 'replyTo', e.reply_to, 'subject', e.subject, 'attachments', e.attachments,
        'time', ${iso('e.time')}) ORDER BY e.ordinal)
      FROM ${from.email} e WHERE e.recording_id = ${r}.id),
    'messagingTranscript', (SELECT json_agg(m.data ORDER BY m.ordinal) FROM ${from.messaging} m WHERE m.recording_id = ${r}.id),
    'fileState', ${r}.file_state, 'restoreExpirationTime', ${iso(`${r}.restore_expiration_time`)},
    'mediaUris', CASE WHEN ${r}.file_state <> 'UPLOADING' THEN (SELECT json_object_agg(mr.key, json_build_object(
        'mediaUri', mr.media_uri,
        'waveformData', CASE WHEN cardinality(mr.waveform_data) > 0 THEN to_json(mr.waveform_data) END) ORDER BY mr.key)
      FROM ${from.media} mr WHERE mr.recording_id = ${r}.id) END,
    'estimatedTranscodeTimeMs', ${r}.estimated_transcode_time_ms, 'actualTranscodeTimeMs', ${r}.actual_transcode_time_ms,
    'archiveDate', ${iso(`${r}.archive_date`)}, 'archiveMedium', ${r}.archive_medium, 'deleteDate', ${iso(`${r}.delete_date`)},
    'exportDate', ${iso(`${r}.export_date`)}, 'exportedDate', ${iso(`${r}.exported_date`)},
    'outputDurationMs', ${r}.output_duration_ms, 'outputSizeInBytes', ${r}.output_size_in_bytes,
    'maxAllowedRestorationsForOrg', ${r}.max_allowed_restorations_for_org,
    'remainingRestorationsAllowedForOrg', ${r}.remaining_restorations_allowed_for_org, 'sessionId', ${r}.session_id,
    'users', (SELECT json_agg(json_build_object(
        'id', u.user_id, 'name', u.name, 'username', u.username, 'email', u.email,
        'division', CASE WHEN coalesce(u.division_id, u.division_name, '') <> '' THEN json_build_object(
          'id', u.division_id, 'name', u.division_name,
          'selfUri', '/api/v2/authorization/divisions/' || nullif(u.division_id, '')) END,
        'selfUri', '/api/v2/users/' || nullif(u.user_id, '')) ORDER BY u.ordinal)
      FROM ${from.users} u WHERE u.recording_id = ${r}.id),
    'recordingFileRole', ${r}.recording_file_role, 'recordingErrorStatus', ${r}.recording_error_status,
    'originalRecordingStartTime', ${iso(`${r}.original_recording_start_time`)}, 'creationTime', ${iso(`${r}.creation_time`)},
    'associatedConversationIds', CASE WHEN cardinality(${r}.associated_conversation_ids) > 0 THEN to_json(${r}.associated_conversation_ids) END,
    'selfUri', ${self})`
}

/** $1 organization, $2 conversation, $3 recording id. */
export const GET_ONE = `
  SELECT json_strip_nulls(${recordingJson('r')})::text AS body, r.file_state = 'UPLOADING' AS uploading
  FROM recordings r WHERE r.id = $3::uuid AND r.organization_id = $1::uuid AND r.conversation_id = $2`

/** $1 organization, $2 conversation: every recording of it, oldest first; null when it has none. */
export const LIST = `
  SELECT json_strip_nulls(json_agg(${recordingJson('r')} ORDER BY r.creation_time, r.id))::text AS body
  FROM recordings r WHERE r.organization_id = $1::uuid AND r.conversation_id = $2`

/** Every column of `recordings` but the full-text document, which no answer shows. */
const COLUMNS = `id, organization_id, conversation_id, name, path, start_time, end_time, media, media_subtype, media_subject,
  file_state, restore_expiration_time, archive_date, archive_medium, delete_date, export_date, exported_date,
  max_allowed_restorations_for_org, remaining_restorations_allowed_for_org, session_id`

/** Snippet options of the service's search (src/services/search-service.ts). */
const HEADLINE = 'StartSel=**, StopSel=**, MaxFragments=2, FragmentDelimiter=" … ", MaxWords=18, MinWords=6'

/** What the organization-wide listing shows of a recording (Genesys RecordingMetadata), plus a snippet with q. */
function metadataJson(r: string, query?: string): string {
  const self = `('/api/v2/conversations/' || ${r}.conversation_id || '/recordings/' || ${r}.id)`
  const snippet = query
    ? `ts_headline(recording_search_config(), concat_ws(' ', ${r}.name, ${r}.media_subject,
        (SELECT string_agg(c.body, ' ' ORDER BY c.ordinal) FROM chat_messages c WHERE c.recording_id = ${r}.id),
        (SELECT string_agg(concat_ws(' ', e.subject, e.text_body), ' ' ORDER BY e.ordinal) FROM email_messages e WHERE e.recording_id = ${r}.id),
        (SELECT string_agg(m.message_text, ' ' ORDER BY m.ordinal) FROM messaging_messages m WHERE m.recording_id = ${r}.id)),
      ${query}, '${HEADLINE}')`
    : 'NULL'
  return `json_build_object(
    'id', ${r}.id, 'name', ${r}.name, 'conversationId', ${r}.conversation_id, 'path', ${r}.path,
    'startTime', ${iso(`${r}.start_time`)}, 'endTime', ${iso(`${r}.end_time`)},
    'media', ${r}.media, 'mediaSubtype', ${r}.media_subtype, 'mediaSubject', ${r}.media_subject,
    'annotations', ${annotationsJson(r, 'annotations', 'AND a.reason IS NULL')},
    'fileState', ${r}.file_state, 'restoreExpirationTime', ${iso(`${r}.restore_expiration_time`)},
    'archiveDate', ${iso(`${r}.archive_date`)}, 'archiveMedium', ${r}.archive_medium, 'deleteDate', ${iso(`${r}.delete_date`)},
    'exportDate', ${iso(`${r}.export_date`)}, 'exportedDate', ${iso(`${r}.exported_date`)},
    'maxAllowedRestorationsForOrg', ${r}.max_allowed_restorations_for_org,
    'remainingRestorationsAllowedForOrg', ${r}.remaining_restorations_allowed_for_org, 'sessionId', ${r}.session_id,
    'selfUri', ${self}, 'snippet', ${snippet})`
}

/**
 * Organization-wide listing, newest first (`sortKey`, then id), keyset-paged, in the service's envelope. $1
 * organization, $2 page size, $3 selfUri, $4 nextUri without its cursor value; with `after`, $5/$6 the sort key and
 * id of the last row seen; with `search`, the last parameter is the full-text query. The cursor is the plain
 * "sortKey,id" of the last row of the page.
 */
export function page({ after, search, sortKey }: { after: boolean; search: boolean; sortKey: string }): string {
  const conditions = ['r.organization_id = $1::uuid']
  let next = 5
  if (after) {
    conditions.push(`(r.${sortKey}, r.id) < ($${next}::timestamptz, $${next + 1}::uuid)`)
    next += 2
  }
  // A scalar subquery is computed once per statement: recording_search_config() is only STABLE, so written inline
  // the query would be parsed again for every row the scan filters (as the service does, src/services/search-service.ts).
  const query = search ? `(SELECT websearch_to_tsquery(recording_search_config(), $${next}::text))` : undefined
  if (query) conditions.push(`r.search_vector @@ ${query}`)
  return `
  WITH page AS (
    SELECT r.*, row_number() OVER (ORDER BY r.${sortKey} DESC, r.id DESC) AS rn FROM (
      SELECT ${COLUMNS}${sortKey === 'start_time' ? '' : `, ${sortKey}`} FROM recordings r
      WHERE ${conditions.join(' AND ')}
      ORDER BY r.${sortKey} DESC, r.id DESC LIMIT $2::int + 1) r)
  SELECT json_strip_nulls(json_build_object(
    'entities', coalesce((SELECT json_agg(${metadataJson('p', query)} ORDER BY p.rn) FROM page p WHERE p.rn <= $2::int), '[]'),
    'pageSize', $2::int,
    'selfUri', $3::text,
    'nextUri', (SELECT $4::text || ${iso(`p.${sortKey}`)} || ',' || p.id FROM page p
                WHERE p.rn = $2::int AND EXISTS (SELECT 1 FROM page WHERE rn > $2::int))))::text AS body`
}

/**
 * Ingest: $1 organization, $2 conversation, $3 the request body (a CreateRecording) as text. The recording and all
 * its children in one statement; the answer is built from what the inserts returned.
 */
export const INGEST = `
  WITH b AS (SELECT $3::jsonb AS j),
  r AS (
    INSERT INTO recordings (id, organization_id, conversation_id, name, path, start_time, end_time, media, media_subtype,
      media_subject, file_state, estimated_transcode_time_ms, actual_transcode_time_ms, archive_date, delete_date,
      output_duration_ms, output_size_in_bytes, session_id, recording_file_role, original_recording_start_time,
      associated_conversation_ids)
    SELECT ${UUID7}, $1::uuid, $2, j->>'name', j->>'path', (j->>'startTime')::timestamptz, (j->>'endTime')::timestamptz,
      j->>'media', (j->>'mediaSubtype')::"MediaSubtype", j->>'mediaSubject',
      (CASE WHEN j->>'media' IN ('chat', 'email', 'messaging') OR coalesce(j->'mediaUris', '{}') <> '{}'
        THEN 'AVAILABLE' ELSE 'UPLOADING' END)::"FileState",
      (j->>'estimatedTranscodeTimeMs')::bigint, (j->>'actualTranscodeTimeMs')::bigint, (j->>'archiveDate')::timestamptz,
      (j->>'deleteDate')::timestamptz, (j->>'outputDurationMs')::int, (j->>'outputSizeInBytes')::int, j->>'sessionId',
      (j->>'recordingFileRole')::"RecordingFileRole", (j->>'startTime')::timestamptz,
      ARRAY(SELECT jsonb_array_elements_text(coalesce(j->'associatedConversationIds', '[]')))
    FROM b
    RETURNING *),
  a AS (
    INSERT INTO annotations (id, recording_id, name, type, location, duration_ms, absolute_location, absolute_duration_ms,
      recording_location, recording_duration_ms, realtime_location, "user", description, reason)
    SELECT ${UUID7}, r.id, e->>'name', e->>'type', (e->>'location')::bigint, (e->>'durationMs')::bigint,
      (e->>'absoluteLocation')::bigint, (e->>'absoluteDurationMs')::bigint, (e->>'recordingLocation')::bigint,
      (e->>'recordingDurationMs')::bigint, (e->>'realtimeLocation')::bigint,
      CASE WHEN jsonb_typeof(e->'user') = 'object' THEN jsonb_strip_nulls(jsonb_build_object('id', e->'user'->'id',
        'name', e->'user'->'name', 'username', e->'user'->'username', 'email', e->'user'->'email',
        'division', CASE WHEN e->'user'->'division' ?| array['id', 'name'] THEN jsonb_strip_nulls(jsonb_build_object(
          'id', e->'user'->'division'->'id', 'name', e->'user'->'division'->'name')) END)) END,
      e->>'description', (e->>'reason')::"AnnotationReason"
    FROM r, b, jsonb_array_elements(coalesce(b.j->'annotations', '[]')) e
    RETURNING *),
  c AS (
    INSERT INTO chat_messages (recording_id, ordinal, message_id, body, "to", "from", utc, chat, message, type, body_type,
      sender_communication_id, participant_purpose, "user")
    SELECT r.id, t.o - 1, e->>'id', e->>'body', e->>'to', e->>'from', e->>'utc', e->>'chat', e->>'message', e->>'type',
      (e->>'bodyType')::"ChatBodyType", e->>'senderCommunicationId', e->>'participantPurpose',
      CASE WHEN jsonb_typeof(e->'user') = 'object' THEN jsonb_strip_nulls(jsonb_build_object('id', e->'user'->'id',
        'name', e->'user'->'name', 'displayName', e->'user'->'displayName', 'username', e->'user'->'username',
        'images', e->'user'->'images')) END
    FROM r, b, jsonb_array_elements(coalesce(b.j->'transcript', '[]')) WITH ORDINALITY t(e, o)
    RETURNING *),
  em AS (
    INSERT INTO email_messages (recording_id, ordinal, message_id, subject, text_body, html_body, "from", "to", cc, bcc,
      reply_to, attachments, time)
    SELECT r.id, t.o - 1, e->>'id', e->>'subject', e->>'textBody', e->>'htmlBody', e->'from', e->'to', e->'cc', e->'bcc',
      e->'replyTo', e->'attachments', (e->>'time')::timestamptz
    FROM r, b, jsonb_array_elements(coalesce(b.j->'emailTranscript', '[]')) WITH ORDINALITY t(e, o)
    RETURNING *),
  m AS (
    INSERT INTO messaging_messages (recording_id, ordinal, message_id, timestamp, "from", purpose, content_type, message_text, data)
    SELECT r.id, t.o - 1, e->>'id', (e->>'timestamp')::timestamptz, e->>'from', e->>'purpose', e->>'contentType',
      e->>'messageText', e
    FROM r, b, jsonb_array_elements(coalesce(b.j->'messagingTranscript', '[]')) WITH ORDINALITY t(e, o)
    RETURNING *),
  mr AS (
    INSERT INTO media_results (recording_id, key, media_uri, waveform_data)
    SELECT r.id, kv.key, kv.value->>'mediaUri',
      ARRAY(SELECT jsonb_array_elements_text(coalesce(kv.value->'waveformData', '[]'))::float8)
    FROM r, b, jsonb_each(coalesce(b.j->'mediaUris', '{}')) kv
    RETURNING *),
  u AS (
    INSERT INTO recording_users (recording_id, organization_id, ordinal, user_id, name, username, email, division_id, division_name)
    SELECT r.id, r.organization_id, t.o - 1, e->>'id', e->>'name', e->>'username', e->>'email', e->'division'->>'id',
      e->'division'->>'name'
    FROM r, b, jsonb_array_elements(coalesce(b.j->'users', '[]')) WITH ORDINALITY t(e, o)
    RETURNING *)
  SELECT json_strip_nulls(${recordingJson('r', { annotations: 'a', chat: 'c', email: 'em', messaging: 'm', media: 'mr', users: 'u' })})::text AS body,
    '/api/v2/conversations/' || r.conversation_id || '/recordings/' || r.id AS location
  FROM r`
