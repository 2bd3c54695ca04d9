// Seeds a realistic dataset with set-based SQL: a few statements per batch of recordings, all generated inside
// PostgreSQL (generate_series), so 200,000 recordings with their children take a minute or two, not an hour.
import type pg from 'pg'

/** Bump when the generated data changes: a database seeded by another version is not reused. */
export const SEED_VERSION = 1

/** The migrations' default organization (the bootstrap client's): it holds about 90% of the rows. */
export const MAIN_ORGANIZATION = '00000000-0000-7000-8000-000000000001'
/** A second tenant holding the other 10%, so that every query really has to scope by organization. */
export const OTHER_ORGANIZATION = '00000000-0000-7000-8000-0000000000b2'

/**
 * Every conversation has one topic word, in its recordings' names and subjects and in its transcripts. Topics have
 * fixed shares, so full-text queries hit known fractions of the recordings.
 */
const TOPICS = `CASE WHEN r_topic < 0.01 THEN 'chargeback' WHEN r_topic < 0.05 THEN 'warranty'
  WHEN r_topic < 0.15 THEN 'password' WHEN r_topic < 0.30 THEN 'delivery' WHEN r_topic < 0.50 THEN 'invoice'
  ELSE (ARRAY['address', 'appointment', 'subscription', 'feedback', 'upgrade'])[1 + floor(r_generic * 5)::int] END`
export const TOPIC_SHARES = { chargeback: 0.01, warranty: 0.04, password: 0.1, delivery: 0.15, invoice: 0.2 }

/** Transcript lines; %t is the topic, %o an order number, %a the agent. */
const CUSTOMER_LINES = [
  'Hi, I have a question about my %t',
  'My order number is %o and nothing arrived yet',
  'Can you check why the %t was charged twice',
  'I would like a refund for the %t',
  'Thanks, that helps a lot',
  'Could you send me a confirmation by email please',
  'I already tried that yesterday without luck',
  'Is there anything else I need to do on my side',
]
const AGENT_LINES = [
  'Hello, thanks for contacting support, my name is Agent %a',
  'Let me look into the %t for you',
  'I can see order %o in our system',
  'I have escalated this to the billing team',
  'You will receive an email confirmation within the hour',
  'Could you confirm the postal code on the account',
  'I have applied a credit to your account',
  'Is there anything else I can help you with today',
]
const literal = (lines: string[]) => `ARRAY[${lines.map((line) => `'${line.replace(/'/g, "''")}'`).join(', ')}]`
/** Line `i` (1-based) of the transcript of seed row `s`: the customer speaks first, then they alternate. */
const line = (s: string, i: string) => `replace(replace(replace(
  CASE WHEN ${i} = 1 THEN '${CUSTOMER_LINES[0]}'
       WHEN ${i} % 2 = 1 THEN (${literal(CUSTOMER_LINES)})[1 + (${s}.n + ${i}) % ${CUSTOMER_LINES.length}]
       ELSE (${literal(AGENT_LINES)})[1 + (${s}.n * 3 + ${i}) % ${AGENT_LINES.length}] END,
  '%t', ${s}.topic), '%o', (10000 + ${s}.n % 90000)::text), '%a', ${s}.agent::text)`
const isoText = (expr: string) => `to_char((${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/** The staging tables: one row per conversation, one per recording (numbered in creation order). */
const STAGING = (conversations: number, size: number) => [
  `SELECT setseed(0.2026)`,
  `CREATE TEMP TABLE seed_conv AS
   WITH c AS MATERIALIZED (
     SELECT k, random() AS r_size, random() AS r_org, random() AS r_time, random() AS r_kind, random() AS r_topic,
       random() AS r_generic
     FROM generate_series(1, ${conversations}) k)
   SELECT k, 3 + floor(r_size * 8)::int AS size,
     (CASE WHEN r_org < 0.1 THEN '${OTHER_ORGANIZATION}' ELSE '${MAIN_ORGANIZATION}' END)::uuid AS org,
     date_trunc('second', now()) - interval '365 days' * r_time AS start_at,
     CASE WHEN r_kind < 0.40 THEN 'voice' WHEN r_kind < 0.65 THEN 'chat' WHEN r_kind < 0.85 THEN 'messaging' ELSE 'email' END AS kind,
     ${TOPICS} AS topic,
     md5('conversation ' || k)::uuid::text AS conversation_id,
     (k * 7) % 200 AS agent
   FROM c`,
  `CREATE TEMP TABLE seed_rec AS
   WITH rows AS MATERIALIZED (
     SELECT c.*, p.pos FROM seed_conv c CROSS JOIN LATERAL generate_series(1, c.size) AS p(pos)
     ORDER BY c.k, p.pos LIMIT ${size}),
   timed AS MATERIALIZED (
     SELECT rows.*,
       CASE WHEN kind = 'voice' THEN CASE WHEN pos % 3 = 0 THEN 'screen' ELSE 'audio' END ELSE kind END AS media,
       date_trunc('milliseconds', start_at + (pos - 1) * interval '75 seconds' + random() * interval '60 seconds') AS start_time,
       CASE kind WHEN 'voice' THEN 60000 + floor(random() * 1200000)::int WHEN 'email' THEN 1000
         ELSE 180000 + floor(random() * 1620000)::int END AS len_ms,
       floor(random() * 30000)::int AS lag_ms
     FROM rows),
   ordered AS MATERIALIZED (
     SELECT t.*, t.start_time + t.len_ms * interval '1 millisecond' AS end_time,
       t.start_time + (t.len_ms + 5000 + t.lag_ms) * interval '1 millisecond' AS creation_time
     FROM timed t)
   SELECT row_number() OVER (ORDER BY creation_time, k, pos)::int AS n, pg_temp.uuid7(creation_time) AS id,
     o.*, o.start_time + interval '300 days' AS archive_at,
     md5(o.org || ':agent:' || o.agent)::uuid::text AS agent_id,
     md5(o.org || ':agent:' || (o.agent + 1) % 200)::uuid::text AS second_agent_id,
     md5(o.org || ':division')::uuid::text AS division_id
   FROM ordered o`,
  `CREATE UNIQUE INDEX ON seed_rec (n)`,
  `ANALYZE seed_rec`,
]

/** pg_temp.uuid7(ts): a UUIDv7 of the time `ts` (ids sort in creation order, as the service makes them). */
export const UUID7_FUNCTION = `CREATE FUNCTION pg_temp.uuid7(ts timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
    substring(int8send(floor(extract(epoch from ts) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid
$$`

/** One statement per table, for the recordings numbered ($1, $2]. */
const BATCH: { table: string; sql: string }[] = [
  {
    table: 'recordings',
    sql: `INSERT INTO recordings (id, organization_id, conversation_id, name, path, start_time, end_time, media, media_subtype,
      media_subject, file_state, estimated_transcode_time_ms, actual_transcode_time_ms, archive_date, archive_medium,
      delete_date, output_duration_ms, output_size_in_bytes, session_id, recording_file_role, original_recording_start_time,
      creation_time, updated_at)
    SELECT s.id, s.org, s.conversation_id,
      CASE s.media WHEN 'audio' THEN 'Call about ' WHEN 'screen' THEN 'Screen recording: ' WHEN 'chat' THEN 'Chat about '
        WHEN 'messaging' THEN 'Messages about ' ELSE 'E-mail about ' END || s.topic,
      CASE WHEN s.media IN ('audio', 'screen') THEN 'recordings/' || s.org || '/' || s.id || '.webm' END,
      s.start_time, s.end_time, s.media,
      (CASE s.media WHEN 'screen' THEN 'Screen' WHEN 'audio' THEN (ARRAY['Trunk', 'Station', 'Consult'])[1 + s.pos % 3] END)::"MediaSubtype",
      CASE WHEN s.media = 'email' THEN 'Question about your ' || s.topic END,
      (CASE WHEN s.archive_at < now() THEN 'ARCHIVED' ELSE 'AVAILABLE' END)::"FileState",
      CASE WHEN s.media IN ('audio', 'screen') THEN 1000 + s.n % 3000 END,
      CASE WHEN s.media IN ('audio', 'screen') THEN 800 + s.n % 2500 END,
      s.archive_at, (CASE WHEN s.archive_at < now() THEN 'CLOUDARCHIVE' END)::"ArchiveMedium", s.start_time + interval '730 days',
      CASE WHEN s.media IN ('audio', 'screen') THEN s.len_ms END,
      CASE WHEN s.media IN ('audio', 'screen') THEN s.len_ms * 16 END,
      md5('session ' || s.n), 'CUSTOMER_EXPERIENCE', s.start_time, s.creation_time, s.creation_time
    FROM seed_rec s WHERE s.n > $1 AND s.n <= $2 ORDER BY s.n`,
  },
  {
    table: 'annotations',
    sql: `INSERT INTO annotations (id, recording_id, name, type, location, duration_ms, absolute_location, absolute_duration_ms,
      recording_location, recording_duration_ms, realtime_location, "user", description, reason, created_at)
    SELECT pg_temp.uuid7(s.creation_time + a.i * interval '1 millisecond'), s.id,
      CASE WHEN a.i IN (1, 4) THEN 'bookmark ' || a.i END,
      CASE WHEN a.i IN (1, 4) THEN 'bookmark' WHEN a.i IN (2, 5, 7) THEN 'pause' ELSE 'hold' END,
      p.loc, p.dur, p.loc, p.dur, p.loc, p.dur, p.loc,
      CASE WHEN a.i IN (1, 4) THEN jsonb_build_object('id', s.agent_id, 'name', 'Agent ' || s.agent, 'username', 'agent' || s.agent,
        'email', 'agent' || s.agent || '@example.com', 'division', jsonb_build_object('id', s.division_id, 'name', 'Support')) END,
      CASE WHEN a.i IN (1, 4) THEN 'customer asked about the ' || s.topic END,
      (CASE WHEN a.i IN (2, 5, 7) THEN 'SecurePause' WHEN a.i IN (3, 6) THEN 'Hold' END)::"AnnotationReason",
      s.creation_time
    FROM seed_rec s CROSS JOIN LATERAL generate_series(1, 3 + s.n % 5) AS a(i)
    CROSS JOIN LATERAL (SELECT (a.i::bigint * s.len_ms / 8) AS loc, (1000 + (s.n * a.i) % 60000)::bigint AS dur) p
    WHERE s.n > $1 AND s.n <= $2`,
  },
  {
    table: 'chat_messages',
    sql: `INSERT INTO chat_messages (recording_id, ordinal, message_id, body, "to", "from", utc, chat, message, type, body_type,
      sender_communication_id, participant_purpose, "user")
    SELECT s.id, m.i - 1, md5(s.id || ':' || m.i)::uuid::text, ${line('s', 'm.i')},
      CASE WHEN m.i % 2 = 1 THEN s.agent_id ELSE 'customer-' || s.n END,
      CASE WHEN m.i % 2 = 1 THEN 'customer-' || s.n ELSE s.agent_id END,
      ${isoText('s.start_time + m.i * interval \'40 seconds\'')}, s.conversation_id, md5(s.id || ':' || m.i),
      'message', 'STANDARD', md5('communication ' || s.n || ':' || m.i % 2)::uuid::text,
      CASE WHEN m.i % 2 = 1 THEN 'customer' ELSE 'agent' END,
      CASE WHEN m.i % 2 = 0 THEN jsonb_build_object('id', s.agent_id, 'name', 'Agent ' || s.agent,
        'displayName', 'Agent ' || s.agent, 'username', 'agent' || s.agent) END
    FROM seed_rec s CROSS JOIN LATERAL generate_series(1, 6 + s.n % 9) AS m(i)
    WHERE s.media = 'chat' AND s.n > $1 AND s.n <= $2`,
  },
  {
    table: 'messaging_messages',
    sql: `INSERT INTO messaging_messages (recording_id, ordinal, message_id, timestamp, "from", purpose, content_type, message_text, data)
    SELECT s.id, m.i - 1, x.id, x.at, x.sender, x.purpose, NULL, x.text,
      jsonb_build_object('id', x.id, 'from', x.sender, 'to', x.recipient, 'timestamp', ${isoText('x.at')},
        'purpose', x.purpose, 'participantId', md5('participant ' || s.n || ':' || m.i % 2)::uuid::text,
        'messageText', x.text, 'status', 'delivered')
    FROM seed_rec s CROSS JOIN LATERAL generate_series(1, 6 + s.n % 9) AS m(i)
    CROSS JOIN LATERAL (SELECT md5(s.id || ':' || m.i)::uuid::text AS id, s.start_time + m.i * interval '90 seconds' AS at,
      CASE WHEN m.i % 2 = 1 THEN '+1555' || lpad((s.n % 10000000)::text, 7, '0') ELSE s.agent_id END AS sender,
      CASE WHEN m.i % 2 = 1 THEN s.agent_id ELSE '+1555' || lpad((s.n % 10000000)::text, 7, '0') END AS recipient,
      CASE WHEN m.i % 2 = 1 THEN 'customer' ELSE 'agent' END AS purpose, ${line('s', 'm.i')} AS text) x
    WHERE s.media = 'messaging' AND s.n > $1 AND s.n <= $2`,
  },
  {
    table: 'email_messages',
    sql: `INSERT INTO email_messages (recording_id, ordinal, message_id, subject, text_body, html_body, "from", "to", time)
    SELECT s.id, m.i - 1, '<' || md5(s.id || ':' || m.i) || '@mail.example.com>',
      CASE WHEN m.i > 1 THEN 'Re: ' ELSE '' END || 'Question about your ' || s.topic,
      x.text, '<p>' || replace(x.text, E'\\n\\n', '</p><p>') || '</p>',
      jsonb_build_object('email', x.sender, 'name', x.sender_name),
      jsonb_build_array(jsonb_build_object('email', x.recipient, 'name', x.recipient_name)),
      s.start_time + m.i * interval '2 hours'
    FROM seed_rec s CROSS JOIN LATERAL generate_series(1, 2 + s.n % 3) AS m(i)
    CROSS JOIN LATERAL (SELECT
      'Hello,' || E'\\n\\n' || ${line('s', 'm.i')} || '. ' || ${line('s', '(m.i + 2)')} || '.' || E'\\n\\n' || 'Best regards' AS text,
      CASE WHEN m.i % 2 = 1 THEN 'customer' || s.n || '@example.net' ELSE 'support@example.com' END AS sender,
      CASE WHEN m.i % 2 = 1 THEN 'Customer ' || s.n ELSE 'Agent ' || s.agent END AS sender_name,
      CASE WHEN m.i % 2 = 1 THEN 'support@example.com' ELSE 'customer' || s.n || '@example.net' END AS recipient,
      CASE WHEN m.i % 2 = 1 THEN 'Support' ELSE 'Customer ' || s.n END AS recipient_name) x
    WHERE s.media = 'email' AND s.n > $1 AND s.n <= $2`,
  },
  {
    table: 'media_results',
    sql: `INSERT INTO media_results (recording_id, key, media_uri, waveform_data)
    SELECT s.id, 'S', 'https://media.example.internal/' || s.id || '.webm',
      ARRAY(SELECT round(0.1 + 0.8 * ((s.n * 7 + w * 13) % 100) / 100.0, 2)::float8 FROM generate_series(1, 16) w)
    FROM seed_rec s WHERE s.media IN ('audio', 'screen') AND s.n > $1 AND s.n <= $2`,
  },
  {
    table: 'recording_users',
    sql: `INSERT INTO recording_users (recording_id, organization_id, ordinal, user_id, name, username, email, division_id, division_name)
    SELECT s.id, s.org, u.i - 1, CASE WHEN u.i = 1 THEN s.agent_id ELSE s.second_agent_id END, 'Agent ' || x.agent,
      'agent' || x.agent, 'agent' || x.agent || '@example.com', s.division_id, 'Support'
    FROM seed_rec s CROSS JOIN LATERAL generate_series(1, CASE WHEN s.n % 5 = 0 THEN 2 ELSE 1 END) AS u(i)
    CROSS JOIN LATERAL (SELECT CASE WHEN u.i = 1 THEN s.agent ELSE (s.agent + 1) % 200 END AS agent) x
    WHERE s.n > $1 AND s.n <= $2`,
  },
  {
    // The transcript triggers are off during the seed: each document is computed once, after its transcripts.
    table: 'search documents',
    sql: `UPDATE recordings r SET search_vector = recording_search_document(r.id, r.name, r.media_subject)
    FROM seed_rec s WHERE s.id = r.id AND s.n > $1 AND s.n <= $2`,
  },
]

const TABLES = ['recordings', 'annotations', 'chat_messages', 'email_messages', 'messaging_messages', 'media_results', 'recording_users']
const SEARCH_TRIGGERS = [
  ['recordings', 'recordings_search'],
  ['chat_messages', 'chat_messages_search'],
  ['email_messages', 'email_messages_search'],
  ['messaging_messages', 'messaging_messages_search'],
]

export interface SeedResult {
  seconds: number
  rows: Record<string, number>
}

const fmt = (n: number) => n.toLocaleString('en-US')

/**
 * Fills an empty, migrated database with `size` recordings and their children. Secondary indexes are dropped while
 * loading and rebuilt at the end, the search triggers are off meanwhile (documents are computed per batch instead),
 * and the tables are vacuumed and analyzed last.
 */
export async function seed(client: pg.Client, size: number, log: (line: string) => void): Promise<SeedResult> {
  const started = performance.now()
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`
  await client.query(`SET synchronous_commit = off`)
  await client.query(`SET maintenance_work_mem = '512MB'`)
  await client.query(`INSERT INTO organizations (id, name) VALUES ('${OTHER_ORGANIZATION}', 'bench-other') ON CONFLICT DO NOTHING`)
  await client.query(UUID7_FUNCTION)
  // Conversations hold 3–10 recordings (6.5 on average); a margin makes sure there are enough.
  for (const statement of STAGING(Math.ceil((size / 6.5) * 1.25) + 10, size)) await client.query(statement)
  log(`seed: staged ${fmt(size)} recordings (${elapsed()})`)

  const { rows: indexes } = await client.query<{ name: string; def: string }>(
    `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     JOIN pg_class t ON t.oid = i.indrelid
     WHERE t.relname = ANY($1) AND t.relnamespace = 'public'::regnamespace AND NOT i.indisprimary AND NOT i.indisunique`,
    [TABLES],
  )
  for (const index of indexes) await client.query(`DROP INDEX "${index.name}"`)
  for (const [table, trigger] of SEARCH_TRIGGERS) await client.query(`ALTER TABLE ${table} DISABLE TRIGGER ${trigger}`)
  // A superuser can also skip the foreign-key checks (the generated rows are consistent by construction).
  const { rows: [role] } = await client.query<{ superuser: boolean }>(`SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`)
  if (role?.superuser) await client.query(`SET session_replication_role = replica`)

  const rows: Record<string, number> = Object.fromEntries(BATCH.map((step) => [step.table, 0]))
  const seconds: Record<string, number> = Object.fromEntries(BATCH.map((step) => [step.table, 0]))
  const batch = Math.max(1000, Math.min(25_000, Math.ceil(size / 10)))
  let analyzedAt = 0
  for (let from = 0; from < size; from += batch) {
    const to = Math.min(size, from + batch)
    // The search documents come from a SQL function whose plans rely on the tables' statistics. Without any (where
    // autovacuum is off, or has not caught up with the load) each call took ~7 ms instead of ~0.1 ms from about
    // 900,000 recordings on. Statistics are taken again whenever the tables have doubled: a few times per seed.
    if (from > 0 && from >= 2 * analyzedAt) {
      await client.query(`ANALYZE ${TABLES.join(', ')}`)
      analyzedAt = from
    }
    await client.query('BEGIN')
    for (const step of BATCH) {
      const t0 = performance.now()
      rows[step.table] = (rows[step.table] ?? 0) + ((await client.query(step.sql, [from, to])).rowCount ?? 0)
      seconds[step.table] = (seconds[step.table] ?? 0) + (performance.now() - t0) / 1000
    }
    await client.query('COMMIT')
    const children = TABLES.slice(1).reduce((sum, table) => sum + (rows[table] ?? 0), 0)
    log(`seed: ${fmt(to)} / ${fmt(size)} recordings (${Math.round((to / size) * 100)}%), ${fmt(children)} child rows, ${elapsed()}`)
  }

  if (role?.superuser) await client.query(`SET session_replication_role = DEFAULT`)
  log(`seed: time per step: ${Object.entries(seconds).map(([step, s]) => `${step} ${s.toFixed(1)} s`).join(', ')}`)
  for (const [table, trigger] of SEARCH_TRIGGERS) await client.query(`ALTER TABLE ${table} ENABLE TRIGGER ${trigger}`)
  for (const index of indexes) {
    await client.query(index.def)
    log(`seed: rebuilt index ${index.name} (${elapsed()})`)
  }
  for (const table of TABLES) await client.query(`VACUUM (ANALYZE) ${table}`)
  log(`seed: vacuumed and analyzed (${elapsed()})`)
  delete rows['search documents']
  return { seconds: (performance.now() - started) / 1000, rows }
}
