import { Prisma } from '../generated/prisma/client.js'
import { recordingSelfUri } from './recording-mapper.js'
import { STORED_MEDIA_MARK, STORED_RENDITION } from './media-urls.js'
import type { RecordingKey } from './recording-key.js'
import type { MediaFormat, Recording } from '../schemas/recording.js'
import type { HeldClaim } from './idempotency-service.js'
import type { SqlReader } from '../plugins/prisma.js'

// Every answer that carries a recording, in raw SQL through Prisma. Per request, Prisma's query compiler, its row
// mapping and the Date -> string round trip of every timestamp cost far more than PostgreSQL does; here one statement
// per read makes PostgreSQL build the wire JSON itself, which Node passes through as a string. The JSON must stay
// what the route schemas describe: test/routes/recording-sql.test.ts holds it to a second, object-based mapping of
// the same rows (test/wire-oracle.ts) serialized by those schemas.
//
// Every expression below is static text over the aliases `r` (the recording row) and `p` (`p.uri`, the recording
// selfUri without the id); request values only ever enter as bound parameters of the statements at the end.

/** What can run SQL: the client, or the client of an interactive transaction. */
type Db = Pick<Prisma.TransactionClient, '$queryRaw' | '$executeRaw'>

/** What can run a read: a Db, or the driver underneath it (the hot reads; see SqlReader). */
type Reader = Db | SqlReader
const rowsOf = <T>(db: Reader, query: Prisma.Sql): Promise<T[]> => ('rows' in db ? db.rows<T>(query) : db.$queryRaw<T[]>(query))

/** `Date#toISOString()` form (UTC, milliseconds), which is what the object path sends. */
const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/** A stored User snapshot (jsonb) as `toUser` answers it: the listed members plus derived selfUris. */
const storedUser = (u: string) => `CASE WHEN jsonb_typeof(${u}) = 'object' THEN json_build_object(
  'id', ${u} -> 'id', 'name', ${u} -> 'name', 'username', ${u} -> 'username', 'email', ${u} -> 'email',
  'division', CASE WHEN jsonb_typeof(${u} -> 'division') = 'object' THEN json_build_object(
    'id', ${u} #> '{division,id}', 'name', ${u} #> '{division,name}',
    'selfUri', '/api/v2/authorization/divisions/' || nullif(${u} #>> '{division,id}', '')) END,
  'selfUri', '/api/v2/users/' || nullif(${u} ->> 'id', '')) END`

/**
 * Where the child lists of a recording are read from: the tables, or, in the statement that ingests the recording,
 * the rows that statement inserts (its own inserts are not visible to it in the tables).
 */
type Sources = Record<ChildTable, string>
type ChildTable = 'annotations' | 'chat_messages' | 'email_messages' | 'messaging_messages' | 'media_results' | 'recording_users'
const TABLES: Sources = {
  annotations: 'annotations', chat_messages: 'chat_messages', email_messages: 'email_messages',
  messaging_messages: 'messaging_messages', media_results: 'media_results', recording_users: 'recording_users',
}

/** The annotations of `r` in wire order (location, NULLs last, then id). */
const annotations = (filter: string, from = TABLES.annotations) => `(SELECT json_agg(json_build_object(
    'id', a.id, 'name', a.name, 'type', a.type, 'location', a.location, 'durationMs', a.duration_ms,
    'description', a.description, 'absoluteLocation', a.absolute_location, 'absoluteDurationMs', a.absolute_duration_ms,
    'recordingLocation', a.recording_location, 'recordingDurationMs', a.recording_duration_ms,
    'realtimeLocation', a.realtime_location, 'reason', a.reason, 'user', ${storedUser('a."user"')},
    'selfUri', p.uri || r.id || '/annotations/' || a.id) ORDER BY a.location, a.id)
  FROM ${from} a WHERE a.recording_id = r.id${filter})`

/** recordingErrorStatus of a recording whose media could not be made into the wanted format (an extension value). */
export const TRANSCODING_FAILED = 'TRANSCODING_FAILED'

/** Rough cost of a transcode in ms (estimatedTranscodeTimeMs): a second, plus audio at 50x and video at 2x real time. */
const ESTIMATE = `1000 + coalesce(s.original_duration_ms, 60000) / CASE WHEN s.original_type LIKE 'video/%' THEN 2 ELSE 50 END`

/**
 * \`s\`: the stored media of \`r\` to play, in the first format of \`f.formats\` it is available in (NULL formats: as stored;
 * empty: none): the original itself when it already is in a wanted format (or is no audio or video, which has no
 * formats), else a rendition made from it (READY). \`pending\`: none is, and the first wanted one is still to be made;
 * \`failed\`: it could not be made. No row when the recording has no playable stored media (none, or archived).
 * The renditions are read in one scan (\`c\`: the best READY one, and whether the first format FAILED): PostgreSQL
 * sets up every node of a prepared statement's plan on every run, used or not, and a chat recording has no media.
 */
const PLAYED = `LEFT JOIN LATERAL (
  SELECT m.waveform_data, m.duration_ms AS original_duration_ms, m.content_type AS original_type,
    CASE WHEN k.as_stored THEN '${STORED_RENDITION}' ELSE (c.best).format END AS rendition,
    CASE WHEN k.as_stored THEN m.storage_key ELSE (c.best).storage_key END AS storage_key,
    CASE WHEN k.as_stored THEN m.content_type ELSE (c.best).content_type END AS content_type,
    CASE WHEN NOT k.as_stored THEN (c.best).transcode_ms END AS transcode_ms,
    CASE WHEN NOT k.as_stored THEN (c.best).duration_ms END AS duration_ms,
    CASE WHEN NOT k.as_stored THEN (c.best).size_in_bytes END AS size_in_bytes,
    NOT k.as_stored AND (c.best).format IS NOT NULL AS transcoded,
    NOT k.as_stored AND (c.best).format IS NULL AND cardinality(f.formats) > 0 AND NOT c.failed AS pending,
    NOT k.as_stored AND (c.best).format IS NULL AND cardinality(f.formats) > 0 AND c.failed AS failed
  FROM stored_media m
  CROSS JOIN LATERAL (SELECT (f.formats IS NULL OR m.format = ANY(f.formats) OR m.content_type !~ '^(audio|video)/') IS TRUE AS as_stored) k
  CROSS JOIN LATERAL (
    SELECT (array_agg(d ORDER BY array_position(f.formats, d.format)) FILTER (WHERE d.state = 'READY'))[1] AS best,
      coalesce(bool_or(d.state = 'FAILED' AND d.format = f.formats[1]), false) AS failed
    FROM renditions d WHERE d.recording_id = m.recording_id AND d.format = ANY(f.formats)) c
  WHERE m.recording_id = r.id AND m.archived_at IS NULL) s ON true`

/** \`s\` where no stored media can exist yet (the ingest). */
const NOT_PLAYED = `CROSS JOIN (SELECT NULL::float8[] AS waveform_data, NULL::text AS rendition, NULL::text AS storage_key,
  NULL::text AS content_type, NULL::int AS transcode_ms, NULL::int AS duration_ms, NULL::bigint AS size_in_bytes,
  NULL::boolean AS transcoded, NULL::int AS original_duration_ms, NULL::text AS original_type, NULL::boolean AS pending,
  NULL::boolean AS failed) s`

/** A member of the wire shape: its SQL expression over `r`, `p` and `s` (some read the child tables of `Sources`). */
type Expression = string | ((s: Sources) => string)

/**
 * One member of the Recording wire shape. `column`: the recordings column it is read from, which the ingest writes
 * (`ingest`: copied from the ingested Recording as it is, or as an instant); `metadata`: also a member of
 * RecordingMetadata, with its own expression when it differs.
 */
interface Member {
  wire: keyof Recording
  sql: Expression
  column?: string
  ingest?: 'as-is' | 'instant'
  metadata?: true | Expression
}

/**
 * The organization's restoration counter (its recording settings \`o\`, SETTINGS), which each restore counts down; else
 * the row's own.
 */
const restorations = (column: string) => `coalesce(o.${column}, r.${column})`

/** \`o\`: the recording settings of the organization of \`r\`, read once for the members and the ETag that show them. */
const SETTINGS = 'LEFT JOIN recording_settings o ON o.organization_id = r.organization_id'

/**
 * THE Recording wire shape, in schema order: the JSON of a Recording and of its RecordingMetadata, and the columns the
 * ingest writes, are generated from this list (test/routes/recording-shape.test.ts holds it to the response schemas and
 * the table). A new scalar field is a column (Prisma model and migration), a TypeBox property, and one line here.
 *
 * mediaUris are left out while the file is UPLOADING, ARCHIVED or RESTORING, as applyView does (nothing is playable),
 * so the common read needs no view applied in Node. Stored media appears as the rendition STORED_RENDITION with a
 * marked mediaUri, which the service replaces with a playback URL: the media `s` chose in a wanted format (the
 * original, or a rendition made from it). While that rendition is being made, the recording has no mediaUris and an
 * estimatedTranscodeTimeMs; the transcode figures are the rendition's once it is. The jsonb members of chat and e-mail
 * messages are sent as stored: the ingest keeps only what the response schema shows of them. `messagingTranscript`
 * is spliced in after json_strip_nulls (see recordingJson).
 */
export const RECORDING_SHAPE: readonly Member[] = [
  { wire: 'id', sql: 'r.id', metadata: true },
  { wire: 'name', sql: 'r.name', column: 'name', ingest: 'as-is', metadata: true },
  { wire: 'conversationId', sql: 'r.conversation_id', metadata: true },
  { wire: 'path', sql: 'r.path', column: 'path', ingest: 'as-is', metadata: true },
  { wire: 'startTime', sql: iso('r.start_time'), column: 'start_time', ingest: 'instant', metadata: true },
  { wire: 'endTime', sql: iso('r.end_time'), column: 'end_time', ingest: 'instant', metadata: true },
  { wire: 'media', sql: 'r.media', column: 'media', ingest: 'as-is', metadata: true },
  { wire: 'mediaSubtype', sql: 'r.media_subtype', column: 'media_subtype', ingest: 'as-is', metadata: true },
  { wire: 'mediaSubject', sql: 'r.media_subject', column: 'media_subject', ingest: 'as-is', metadata: true },
  { wire: 'annotations', sql: (s) => annotations('', s.annotations), metadata: () => annotations(' AND a.reason IS NULL') },
  {
    wire: 'transcript',
    sql: (s) => `(SELECT json_agg(json_build_object(
      'body', c.body, 'id', c.message_id, 'to', c."to", 'from', c."from", 'utc', c.utc, 'chat', c.chat,
      'message', c.message, 'type', c.type, 'bodyType', c.body_type, 'senderCommunicationId', c.sender_communication_id,
      'participantPurpose', c.participant_purpose, 'user', c."user") ORDER BY c.ordinal)
    FROM ${s.chat_messages} c WHERE c.recording_id = r.id)`,
  },
  {
    wire: 'emailTranscript',
    sql: (s) => `(SELECT json_agg(json_build_object(
      'htmlBody', e.html_body, 'textBody', e.text_body, 'id', e.message_id,
      'to', e."to", 'cc', e.cc, 'bcc', e.bcc, 'from', e."from", 'replyTo', e.reply_to, 'subject', e.subject,
      'attachments', e.attachments, 'time', ${iso('e.time')}) ORDER BY e.ordinal)
    FROM ${s.email_messages} e WHERE e.recording_id = r.id)`,
  },
  { wire: 'fileState', sql: 'r.file_state', column: 'file_state', metadata: true },
  { wire: 'restoreExpirationTime', sql: iso('r.restore_expiration_time'), metadata: true },
  {
    wire: 'mediaUris',
    sql: (s) => `CASE WHEN r.file_state NOT IN ('UPLOADING', 'ARCHIVED', 'RESTORING') AND s.pending IS NOT TRUE THEN (SELECT json_object_agg(m.key, json_build_object(
      'mediaUri', m.media_uri,
      'waveformData', CASE WHEN cardinality(m.waveform_data) > 0 THEN m.waveform_data END) ORDER BY m.key)
    FROM (SELECT key, media_uri, waveform_data FROM ${s.media_results} WHERE recording_id = r.id
      UNION ALL SELECT '${STORED_RENDITION}', '${STORED_MEDIA_MARK}' || s.rendition || ' ' || s.storage_key || ' ' || s.content_type, s.waveform_data
      WHERE s.rendition IS NOT NULL) m) END`,
  },
  { wire: 'estimatedTranscodeTimeMs', sql: `CASE WHEN s.pending THEN ${ESTIMATE} ELSE r.estimated_transcode_time_ms END`, column: 'estimated_transcode_time_ms', ingest: 'as-is' },
  { wire: 'actualTranscodeTimeMs', sql: 'CASE WHEN s.transcoded THEN s.transcode_ms ELSE r.actual_transcode_time_ms END', column: 'actual_transcode_time_ms', ingest: 'as-is' },
  { wire: 'archiveDate', sql: iso('r.archive_date'), column: 'archive_date', ingest: 'instant', metadata: true },
  { wire: 'archiveMedium', sql: 'r.archive_medium', metadata: true },
  { wire: 'deleteDate', sql: iso('r.delete_date'), column: 'delete_date', ingest: 'instant', metadata: true },
  { wire: 'exportDate', sql: iso('r.export_date'), metadata: true },
  { wire: 'exportedDate', sql: iso('r.exported_date'), metadata: true },
  { wire: 'outputDurationMs', sql: 'CASE WHEN s.transcoded THEN s.duration_ms ELSE r.output_duration_ms END', column: 'output_duration_ms', ingest: 'as-is' },
  {
    wire: 'outputSizeInBytes',
    sql: 'CASE WHEN s.transcoded THEN CASE WHEN s.size_in_bytes <= 2147483647 THEN s.size_in_bytes END ELSE r.output_size_in_bytes END',
    column: 'output_size_in_bytes',
    ingest: 'as-is',
  },
  { wire: 'maxAllowedRestorationsForOrg', sql: restorations('max_allowed_restorations_for_org'), metadata: true },
  { wire: 'remainingRestorationsAllowedForOrg', sql: restorations('remaining_restorations_allowed_for_org'), metadata: true },
  { wire: 'sessionId', sql: 'r.session_id', column: 'session_id', ingest: 'as-is', metadata: true },
  {
    wire: 'users',
    sql: (s) => `(SELECT json_agg(json_build_object(
      'id', u.user_id, 'name', u.name, 'username', u.username, 'email', u.email,
      'division', CASE WHEN u.division_id <> '' OR u.division_name <> '' THEN json_build_object(
        'id', u.division_id, 'name', u.division_name,
        'selfUri', '/api/v2/authorization/divisions/' || nullif(u.division_id, '')) END,
      'selfUri', '/api/v2/users/' || nullif(u.user_id, '')) ORDER BY u.ordinal)
    FROM ${s.recording_users} u WHERE u.recording_id = r.id)`,
  },
  { wire: 'recordingFileRole', sql: 'r.recording_file_role', column: 'recording_file_role', ingest: 'as-is' },
  { wire: 'recordingErrorStatus', sql: `coalesce(r.recording_error_status::text, CASE WHEN s.failed THEN '${TRANSCODING_FAILED}' END)` },
  { wire: 'originalRecordingStartTime', sql: iso('r.original_recording_start_time'), column: 'original_recording_start_time' },
  { wire: 'creationTime', sql: iso('r.creation_time') },
  {
    wire: 'associatedConversationIds',
    sql: 'CASE WHEN cardinality(r.associated_conversation_ids) > 0 THEN r.associated_conversation_ids END',
    column: 'associated_conversation_ids',
  },
  { wire: 'selfUri', sql: 'p.uri || r.id', metadata: true },
]

/** `messagingTranscript`: appended after json_strip_nulls, which would drop the nulls messages are answered with. */
const MESSAGING_TRANSCRIPT: keyof Recording = 'messagingTranscript'

const sqlOf = (expression: Expression, s: Sources) => (typeof expression === 'string' ? expression : expression(s))

/** Every member of a Recording but `messagingTranscript`, as json_build_object arguments. */
const recordingMembers = (s: Sources) => RECORDING_SHAPE.map((m) => `'${m.wire}', ${sqlOf(m.sql, s)}`).join(',\n  ')

/** JSON text for each row \`r\`: \`json\`, read from what \`from\` joins to it (after \`o\`, \`p\` and \`s\`). */
interface Projection {
  json: Prisma.Sql
  from: Prisma.Sql
}

/**
 * A Recording as JSON text. json_strip_nulls drops absent members (and the empty child lists, which json_agg makes
 * NULL), but it would also drop the nulls inside messaging messages, which are answered exactly as stored; so the
 * messaging transcript is spliced in after stripping, and only into recordings that have one: \`left(…, -1)\` counts
 * the characters of the whole text, which cost a GET about a tenth of its database time when done for every
 * recording. \`j\` is a subquery of its own (OFFSET 0) so that its expression is not copied into both branches.
 */
const recordingJson = (s: Sources): Projection => ({
  json: Prisma.raw(`CASE WHEN mt.data IS NULL THEN j.body ELSE left(j.body, -1) || ',"${MESSAGING_TRANSCRIPT}":' || mt.data || '}' END`),
  from: Prisma.raw(`CROSS JOIN LATERAL (SELECT json_strip_nulls(json_build_object(${recordingMembers(s)}))::text AS body OFFSET 0) j
  CROSS JOIN LATERAL (SELECT json_agg(m.data ORDER BY m.ordinal)::text AS data FROM ${s.messaging_messages} m WHERE m.recording_id = r.id) mt`),
})
const RECORDING_JSON = recordingJson(TABLES)

/** RecordingMetadata as JSON text: the members the shape marks, and only the annotations a client made (no reason). */
const METADATA_JSON: Projection = {
  json: Prisma.raw(`json_strip_nulls(json_build_object(${RECORDING_SHAPE.filter((m) => m.metadata)
    .map((m) => `'${m.wire}', ${sqlOf(m.metadata === true ? m.sql : (m.metadata as Expression), TABLES)}`)
    .join(',\n  ')}))::text`),
  from: Prisma.empty,
}

/** `p.uri`: computed in Node, so the encoding is exactly recordingSelfUri's (encodeURIComponent). */
const uris = (conversationId: string) => Prisma.sql`(SELECT ${recordingSelfUri(conversationId, '')}::text AS uri) p`

/**
 * The formats stored media is wanted in, most wanted first: null for the media as stored, none for no media. The
 * media of a recording read with them is \`s\` (PLAYED).
 */
export type Formats = readonly MediaFormat[] | null

/** `f.formats`, and `s` chosen by them. */
const played = (formats: Formats) => Prisma.sql`CROSS JOIN (SELECT ${formats}::text[] AS formats) f ${Prisma.raw(PLAYED)}`
const PLAY_STATE = Prisma.raw('coalesce(s.pending, false) AS pending, coalesce(s.failed, false) AS failed')

/** One recording of the key (which must hold a UUID), or none; with `formats`, with its media in them (`s`). */
const one = ({ json, from }: Projection, { organizationId, conversationId, recordingId }: RecordingKey, formats?: Formats) => Prisma.sql`
  SELECT ${json} AS json, r.file_state = 'UPLOADING' AS uploading, r.version::text AS version,
    o.remaining_restorations_allowed_for_org::text AS restorations, ${formats === undefined ? Prisma.raw('false AS pending, false AS failed') : PLAY_STATE}
  FROM recordings r ${Prisma.raw(SETTINGS)} CROSS JOIN ${uris(conversationId)} ${formats === undefined ? Prisma.empty : played(formats)} ${from}
  WHERE r.id = ${recordingId}::uuid AND r.organization_id = ${organizationId}::uuid AND r.conversation_id = ${conversationId}`

/**
 * Every recording of a conversation as one JSON array, oldest first; NULL when it has none. With `formats`, with
 * their media in them, and the ids of those whose rendition is still to be made.
 */
const all = ({ json, from }: Projection, organizationId: string, conversationId: string, formats?: Formats) => Prisma.sql`
  SELECT '[' || string_agg(${json}, ',' ORDER BY r.creation_time, r.id) || ']' AS json,
    ${formats === undefined ? Prisma.raw('NULL::text[]') : Prisma.raw('array_agg(r.id::text) FILTER (WHERE s.pending)')} AS pending
  FROM recordings r ${Prisma.raw(SETTINGS)} CROSS JOIN ${uris(conversationId)} ${formats === undefined ? Prisma.empty : played(formats)} ${from}
  WHERE r.organization_id = ${organizationId}::uuid AND r.conversation_id = ${conversationId}`

export interface RecordingJson {
  json: string
  /** The file is UPLOADING: answered 202, and its mediaUris are already left out. */
  uploading: boolean
  /** The row version (its ETag), read in the same statement as the JSON so both describe the same state. */
  version: string
  /**
   * The organization's remaining restorations, which the JSON shows and which change without the row (a restore of
   * another recording): part of the ETag. Null without settings (the row's own value is shown).
   */
  restorations: string | null
  /** Its stored media is wanted in a format it is not made in yet: no mediaUris (answered 202). */
  pending: boolean
  /** Its stored media could not be made into the wanted format: no mediaUris, recordingErrorStatus TRANSCODING_FAILED. */
  failed: boolean
}

/** A recording with its stored media in `formats` (default: as stored). */
export async function selectRecording(db: Reader, key: RecordingKey, formats: Formats = null): Promise<RecordingJson | undefined> {
  const [row] = await rowsOf<RecordingJson>(db, one(RECORDING_JSON, key, formats))
  return row
}

/**
 * The JSON array of a conversation's recordings with their stored media in `formats`, and the ids of those whose
 * rendition in the first of them is still to be made; undefined when it has none.
 */
export async function selectRecordings(db: Reader, organizationId: string, conversationId: string, formats: Formats): Promise<{ json: string; pending: string[] } | undefined> {
  const [row] = await rowsOf<{ json: string | null; pending: string[] | null }>(db, all(RECORDING_JSON, organizationId, conversationId, formats))
  return row?.json ? { json: row.json, pending: row.pending ?? [] } : undefined
}

export async function selectMetadata(db: Reader, key: RecordingKey): Promise<string | undefined> {
  const [row] = await rowsOf<RecordingJson>(db, one(METADATA_JSON, key))
  return row?.json
}

/**
 * The metadata of the recordings `ids` (of the organization), as JSON text each, in the order given. `uris` are
 * their selfUris without the id, as `recordingSelfUri` writes them. A recording deleted meanwhile is left out.
 */
export async function selectMetadataOf(db: Db, organizationId: string, ids: string[], uris: string[]): Promise<{ id: string; json: string }[]> {
  return db.$queryRaw<{ id: string; json: string }[]>`
    SELECT r.id, ${METADATA_JSON.json} AS json
    FROM unnest(${ids}::uuid[], ${uris}::text[]) WITH ORDINALITY AS p(id, uri, i)
    JOIN recordings r ON r.id = p.id AND r.organization_id = ${organizationId}::uuid ${Prisma.raw(SETTINGS)}
    ORDER BY p.i`
}

export async function selectMetadataList(db: Reader, organizationId: string, conversationId: string): Promise<string | undefined> {
  const [row] = await rowsOf<{ json: string | null }>(db, all(METADATA_JSON, organizationId, conversationId))
  return row?.json ?? undefined
}

// Ingest: rows are shaped in Node with the tables' column names, and each table gets ONE multi-row insert that unpacks
// them with jsonb_populate_recordset (column types come from the table; columns not listed take their defaults). One
// insert per transcript table also means its search trigger rebuilds the document only once. The inserts are the
// data-modifying CTEs of one statement, which also answers the stored recording as JSON: one round trip, and one
// transaction by itself.

/**
 * The recordings row of an ingest, keyed by column: the ids, the retention dates the service checks, and the other
 * INGEST_COLUMNS (see ingestedColumns).
 */
export interface RecordingRow {
  id: string
  organization_id: string
  conversation_id: string
  archive_date: string | null
  delete_date: string | null
  [column: string]: unknown
}

/**
 * The columns an ingested Recording sets as given (`ingest` members of RECORDING_SHAPE): copied as they are, or as
 * instants in `Date#toISOString()` form (what the timestamp columns keep: UTC, milliseconds).
 */
export function ingestedColumns(input: Partial<Record<keyof Recording, unknown>>): Record<string, unknown> {
  const instant = (value: unknown) => (typeof value === 'string' && value !== '' ? new Date(value).toISOString() : null)
  return Object.fromEntries(RECORDING_SHAPE.flatMap((m) => {
    if (!m.column || !m.ingest) return []
    const value = input[m.wire]
    return [[m.column, m.ingest === 'instant' ? instant(value) : value]]
  }))
}

/** The rows of one ingest, keyed by column name; jsonb columns hold objects. */
export interface IngestRows {
  recording: RecordingRow
  annotations: object[]
  chatMessages: object[]
  emailMessages: object[]
  messagingMessages: object[]
  mediaResults: object[]
  users: object[]
}

/** The columns an ingest writes: the ids, and the columns of the shape's members. */
export const INGEST_COLUMNS = ['id', 'organization_id', 'conversation_id', ...RECORDING_SHAPE.flatMap((m) => (m.column ? [m.column] : []))]
const RECORDING_COLUMNS = Prisma.raw(INGEST_COLUMNS.join(', '))

/** Each child table the ingest writes, with the columns it sets. */
const CHILD_TABLES: [Exclude<keyof IngestRows, 'recording'>, ChildTable, string][] = [
  ['annotations', 'annotations', `id, recording_id, name, type, location, duration_ms, absolute_location,
    absolute_duration_ms, recording_location, recording_duration_ms, realtime_location, "user", description, reason`],
  ['chatMessages', 'chat_messages', `recording_id, ordinal, message_id, body, "to", "from", utc, chat, message, type,
    body_type, sender_communication_id, participant_purpose, "user"`],
  ['emailMessages', 'email_messages', `recording_id, ordinal, message_id, subject, text_body, html_body, "from", "to",
    cc, bcc, reply_to, attachments, "time"`],
  ['messagingMessages', 'messaging_messages', `recording_id, ordinal, message_id, "timestamp", "from", purpose,
    content_type, message_text, data`],
  ['mediaResults', 'media_results', 'recording_id, key, media_uri, waveform_data'],
  ['users', 'recording_users', `recording_id, organization_id, ordinal, user_id, name, username, email, division_id,
    division_name`],
]

/** The ingest's answer, per set of child tables written (a table without new rows is read as it is: it has none). */
const insertedJson = new Map<string, Projection>()
function insertedRecordingJson(written: ChildTable[]): Projection {
  const key = written.join()
  let projection = insertedJson.get(key)
  if (!projection) {
    projection = recordingJson({ ...TABLES, ...Object.fromEntries(written.map((table) => [table, `new_${table}`])) })
    insertedJson.set(key, projection)
  }
  return projection
}

/**
 * Writes a recording and its children in ONE statement and answers it as JSON text. Each child table's insert is a
 * data-modifying CTE of the statement; their foreign keys, and the statement-level search triggers of the
 * transcript tables, run at the end of the statement, when every row is there. Any failure undoes all of it.
 */
/** The idempotency key an ingest answers, with what its answer carries besides the body and the ETag. */
export interface IngestAnswer {
  key: HeldClaim
  statusCode: number
  headers: Record<string, string>
}

export async function insertRecording(db: Db, rows: IngestRows, answer?: IngestAnswer): Promise<{ json: string; version: string; restorations: string | null }> {
  const written = CHILD_TABLES.filter(([field]) => rows[field].length > 0)
  const children = written.map(([field, table, columns]) => {
    const [name, cols] = [Prisma.raw(table), Prisma.raw(columns)]
    return Prisma.sql`${Prisma.raw(`new_${table}`)} AS (INSERT INTO ${name} (${cols})
      SELECT ${cols} FROM jsonb_populate_recordset(NULL::${name}, ${JSON.stringify(rows[field])}::jsonb) RETURNING *)`
  })
  const recording = Prisma.sql`new_recording AS (INSERT INTO recordings (${RECORDING_COLUMNS})
    SELECT ${RECORDING_COLUMNS} FROM jsonb_populate_record(NULL::recordings, ${JSON.stringify(rows.recording)}::jsonb) RETURNING *)`
  // The inserted version is the stored one: the writes the statement's triggers make to the row keep it.
  const { json, from } = insertedRecordingJson(written.map(([, table]) => table))
  const select = Prisma.sql`SELECT ${json} AS json, r.version::text AS version,
      o.remaining_restorations_allowed_for_org::text AS restorations
    FROM new_recording r ${Prisma.raw(SETTINGS)} CROSS JOIN ${uris(rows.recording.conversation_id)} ${Prisma.raw(NOT_PLAYED)} ${from}`
  // With an idempotency key, the same statement stores the answer for it: the recording and the replayable answer
  // commit together. The ETag is recordingETag's form.
  const [row] = await db.$queryRaw<{ json: string; version: string; restorations: string | null }[]>(answer
    ? Prisma.sql`WITH ${Prisma.join([recording, ...children], ', ')}, answer AS (${select}),
        stored AS (UPDATE idempotency_keys k SET status_code = ${answer.statusCode}::int, response_body = a.json,
          response_headers = ${JSON.stringify(answer.headers)}::jsonb || jsonb_build_object('etag', '"' || a.version || coalesce('.r' || a.restorations, '') || '"')
        FROM answer a
        WHERE k.organization_id = ${answer.key.scope.organizationId}::uuid AND k.client_id = ${answer.key.scope.clientId}
          AND k.key = ${answer.key.scope.key} AND k.claim = ${answer.key.claim}::uuid)
      SELECT json, version, restorations FROM answer`
    : Prisma.sql`WITH ${Prisma.join([recording, ...children], ', ')} ${select}`)
  if (!row) throw new Error(`the insert of recording ${rows.recording.id} answered no row`)
  return row
}
