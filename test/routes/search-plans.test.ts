import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Prisma } from '../../src/generated/prisma/client.js'
import type { SearchQuery } from '../../src/schemas/search.js'
import { createOrganization, createTestContext, type TestContext } from '../helpers.js'

/**
 * The plans of the search's page queries at a realistic size: every one is read off an index led by the organization,
 * and none scans a big table sequentially. The SQL is the service's own (pageQuery), explained in a database of its own.
 */

const TOTAL = 30_000
const USERS = 500

let ctx: TestContext
let big: string // 90% of the recordings
let small: string
let seedMs = 0

beforeAll(async () => {
  // No background jobs: the seeded retention dates lie in the past, and the retention sweep would act on them.
  ctx = await createTestContext({ JOB_CONCURRENCY: '0' })
  const started = performance.now()
  big = await createOrganization(ctx, 'plans-big')
  small = await createOrganization(ctx, 'plans-small')
  // Set-based and deterministic (setseed, hashes of the row number): media kinds, subtypes, file states and roles in
  // realistic proportions, start times spread over 2024 with 3% missing, two recordings per conversation, 1-2 users
  // each from a pool, and a three-message chat transcript for each chat (topics, and customer names that are rare).
  // The full-text documents are written in the same statements, with the triggers off for speed; a sample is checked
  // against recording_search_document() below, so they are exactly what the triggers would have written.
  const client = await ctx.sql.connect()
  try {
    await client.query('BEGIN')
    await client.query('ALTER TABLE recordings DISABLE TRIGGER recordings_search')
    await client.query('ALTER TABLE chat_messages DISABLE TRIGGER chat_messages_search')
    await client.query('SELECT setseed(0.42)')
    await client.query(`
      CREATE TEMP TABLE seed ON COMMIT DROP AS
      SELECT s.*,
        -- "recall" is a word of the first days of the year only: rare, and all of it at the end of the default order
        'Hello, I need help with my ' || CASE WHEN start < timestamptz '2024-01-05T00:00:00Z' THEN 'recall ' ELSE '' END
          || (ARRAY['invoice', 'delivery', 'password', 'account', 'upgrade', 'order', 'bill', 'contract', 'login', 'refund'])[1 + abs(hashtext('topic' || i)) % 10] AS first_line,
        'Sure, customer' || abs(hashtext('name' || i)) % 3000 || ', let me check that for you' AS second_line,
        'Thanks, goodbye' AS third_line
      FROM (
        SELECT i, gen_random_uuid() AS id, CASE WHEN i % 10 = 0 THEN '${small}'::uuid ELSE '${big}'::uuid END AS organization_id,
          (ARRAY['audio', 'audio', 'audio', 'audio', 'chat', 'chat', 'email', 'messaging', 'screen'])[1 + (i * 7) % 9] AS media,
          random() AS r, timestamptz '2024-01-01T00:00:00Z' + random() * interval '365 days' AS start
        FROM generate_series(1, ${TOTAL}) AS i
      ) AS s`)
    await client.query(`
      INSERT INTO recordings (id, organization_id, conversation_id, name, media, media_subtype, file_state,
                              recording_file_role, start_time, creation_time, archive_date, delete_date, search_vector)
      SELECT id, organization_id, 'conv-' || (i / 2), 'call ' || i, media,
        CASE media WHEN 'audio' THEN (ARRAY['Trunk', 'Trunk', 'Trunk', 'Station', 'Consult'])[1 + i % 5]::"MediaSubtype"
                   WHEN 'screen' THEN 'Screen'::"MediaSubtype" END,
        CASE WHEN r < 0.90 THEN 'AVAILABLE' WHEN r < 0.97 THEN 'ARCHIVED' WHEN r < 0.99 THEN 'UPLOADING' ELSE 'ERROR' END::"FileState",
        CASE WHEN i % 20 = 7 THEN 'ADHOC' ELSE 'CUSTOMER_EXPERIENCE' END::"RecordingFileRole",
        CASE WHEN i % 33 = 0 THEN NULL ELSE start END,
        start + interval '10 minutes', start + interval '90 days', start + interval '2 years',
        setweight(to_tsvector('simple', 'call ' || i || ' '), 'A') || setweight(to_tsvector('simple', ''), 'B')
          || to_tsvector('simple', CASE WHEN media = 'chat' THEN concat_ws(' ', first_line, second_line, third_line) ELSE '' END)
          || to_tsvector('simple', '') || to_tsvector('simple', '')
      FROM seed`)
    await client.query(`
      INSERT INTO recording_users (recording_id, organization_id, ordinal, user_id, name)
      SELECT id, organization_id, o.ordinal, 'user-' || abs(hashtext(o.ordinal || 'user' || i)) % ${USERS}, 'User'
      FROM seed CROSS JOIN generate_series(0, 1) AS o(ordinal)
      WHERE o.ordinal = 0 OR i % 3 = 0`)
    await client.query(`
      INSERT INTO chat_messages (recording_id, ordinal, body, body_type)
      SELECT id, o.ordinal, (ARRAY[first_line, second_line, third_line])[o.ordinal + 1], 'STANDARD'
      FROM seed CROSS JOIN generate_series(0, 2) AS o(ordinal)
      WHERE media = 'chat'`)
    await client.query('ALTER TABLE recordings ENABLE TRIGGER recordings_search')
    await client.query('ALTER TABLE chat_messages ENABLE TRIGGER chat_messages_search')
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK')
    throw error
  } finally {
    client.release()
  }
  await ctx.sql.query('VACUUM ANALYZE recordings, recording_users, chat_messages')
  seedMs = performance.now() - started
}, 120_000)

afterAll(async () => {
  await ctx?.close()
})

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Index Name'?: string
  'Execution Time'?: number
  Plans?: PlanNode[]
  [key: string]: unknown
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)]
}

async function explain(sql: Prisma.Sql, analyze = false): Promise<{ plan: PlanNode; executionMs?: number }> {
  const rows = await ctx.app.prisma.$queryRaw<{ 'QUERY PLAN': unknown }[]>(
    analyze ? Prisma.sql`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}` : Prisma.sql`EXPLAIN (FORMAT JSON) ${sql}`,
  )
  const raw = rows[0]?.['QUERY PLAN']
  const [top] = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode; 'Execution Time'?: number }[]
  if (!top) throw new Error('no plan')
  return { plan: top.Plan, executionMs: top['Execution Time'] }
}

const show = (plan: PlanNode) =>
  nodes(plan).map((n) => `${n['Node Type']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}`).join(' / ')

const BIG_TABLES = ['recordings', 'recording_users', 'chat_messages']
const ORGANIZATION_INDEXES = /^recordings_organization_id_/

describe('plans of the search page queries at 30,000 recordings', () => {
  const pageQuery = (query: SearchQuery, after?: { key: string | number; id: string }) =>
    ctx.app.services.search.pageQuery(big, query, after, 26)

  async function deepPosition(order: string, column: string) {
    const { rows } = await ctx.sql.query<{ id: string; key: Date }>(
      `SELECT id, ${column} AS key FROM recordings WHERE organization_id = $1 ORDER BY ${column} ${order}, id ${order} OFFSET 9999 LIMIT 1`,
      [big],
    )
    const row = rows[0]
    if (!row) throw new Error('no row 10,000')
    return { key: row.key.toISOString(), id: row.id }
  }

  it('seeded a realistic size', async () => {
    const { rows } = await ctx.sql.query<{ recordings: string; users: string; chats: string; big: string; nostart: string }>(`
      SELECT (SELECT count(*) FROM recordings) AS recordings, (SELECT count(*) FROM recording_users) AS users,
             (SELECT count(*) FROM chat_messages) AS chats,
             (SELECT count(*) FROM recordings WHERE organization_id = $1) AS big,
             (SELECT count(*) FROM recordings WHERE start_time IS NULL) AS nostart`, [big])
    console.log(`seeded in ${Math.round(seedMs)} ms:`, rows[0])
    expect(Number(rows[0]?.recordings)).toBe(TOTAL)
    expect(Number(rows[0]?.big)).toBe(TOTAL * 0.9)
    expect(Number(rows[0]?.nostart)).toBeGreaterThan(800)
    expect(Number(rows[0]?.users)).toBeGreaterThan(TOTAL)
    expect(Number(rows[0]?.chats)).toBeGreaterThan(15_000)
    // the documents are the triggers' own, and the triggers are on again
    const { rows: sample } = await ctx.sql.query<{ checked: string; differ: string }>(`
      SELECT count(*) AS checked, count(*) FILTER (WHERE search_vector IS DISTINCT FROM recording_search_document(id, name, media_subject)) AS differ
      FROM recordings TABLESAMPLE BERNOULLI (2) REPEATABLE (7)`)
    expect(Number(sample[0]?.checked)).toBeGreaterThan(300)
    expect(Number(sample[0]?.differ)).toBe(0)
    const { rows: triggers } = await ctx.sql.query<{ tgname: string; tgenabled: string }>(
      `SELECT tgname, tgenabled FROM pg_trigger WHERE tgname IN ('recordings_search', 'chat_messages_search') ORDER BY tgname`)
    expect(triggers).toEqual([{ tgname: 'chat_messages_search', tgenabled: 'O' }, { tgname: 'recordings_search', tgenabled: 'O' }])
  })

  const CASES: [string, () => Promise<{ query: SearchQuery; after?: { key: string; id: string } }>, RegExp][] = [
    ['first page, startTime desc', async () => ({ query: {} }), /^recordings_organization_id_sort_time_id_idx$/],
    ['first page, startTime asc', async () => ({ query: { sortOrder: 'asc' } }), /^recordings_organization_id_sort_time_id_idx$/],
    ['first page, creationTime asc', async () => ({ query: { sortBy: 'creationTime', sortOrder: 'asc' } }), /^recordings_organization_id_creation_time_id_idx$/],
    ['media', async () => ({ query: { media: 'screen' } }), /^recordings_organization_id_media_sort_time_id_idx$/],
    ['media (a common one)', async () => ({ query: { media: 'audio' } }), /^recordings_organization_id_(media_)?sort_time_id_idx$/],
    ['mediaSubtype', async () => ({ query: { mediaSubtype: 'Consult' } }), /^recordings_organization_id_media_subtype_sort_time_id_idx$/],
    ['fileState', async () => ({ query: { fileState: 'ERROR' } }), /^recordings_organization_id_file_state_sort_time_id_idx$/],
    ['recordingFileRole', async () => ({ query: { recordingFileRole: 'ADHOC' } }), /^recordings_organization_id_recording_file_role_sort_time_id_idx$/],
    ['conversationId', async () => ({ query: { conversationId: 'conv-4321' } }), /^recordings_organization_id_conversation_id_idx$/],
    ['userId', async () => ({ query: { userId: 'user-42' } }), /^recording_users_organization_id_user_id_idx$/],
    ['startTime interval (one week)', async () => ({ query: { startTime: '2024-06-01T00:00:00Z/2024-06-08T00:00:00Z' } }), /^recordings_organization_id_sort_time_id_idx$/],
    ['creationTime interval (one week)', async () => ({ query: { creationTime: '2024-06-01T00:00:00Z/2024-06-08T00:00:00Z', sortBy: 'creationTime' } }), /^recordings_organization_id_creation_time_id_idx$/],
    // due soon: the oldest 1.4% of the organization, at the far end of the default order
    ['archiveDateBefore', async () => ({ query: { archiveDateBefore: '2024-04-05T00:00:00Z' } }), /^recordings_organization_id_archive_date_idx$/],
    ['archiveDateBefore, fewer', async () => ({ query: { archiveDateBefore: '2024-04-01T00:00:00Z' } }), /^recordings_organization_id_archive_date_idx$/],
    ['deleteDateBefore', async () => ({ query: { deleteDateBefore: '2026-01-05T00:00:00Z' } }), /^recordings_organization_id_delete_date_idx$/],
    ['q, a rare word', async () => ({ query: { q: 'customer1234' } }), /^recordings_organization_id_search_vector_idx$/],
    ['q, a rare word found only at the far end of the order', async () => ({ query: { q: 'recall' } }), /^recordings_organization_id_search_vector_idx$/],
    ['q, a word of 2% of the recordings', async () => ({ query: { q: 'refund' } }), ORGANIZATION_INDEXES],
    ['q, phrase and prefix', async () => ({ query: { q: '"need help" refu*' } }), ORGANIZATION_INDEXES],
    ['q, sortBy=relevance', async () => ({ query: { q: 'refund', sortBy: 'relevance' } }), /^recordings_organization_id_search_vector_idx$/],
    ['q with a filter', async () => ({ query: { q: 'refund', media: 'chat', startTime: '2024-06-01T00:00:00Z/2024-07-01T00:00:00Z' } }), ORGANIZATION_INDEXES],
    ['after 10,000 rows, startTime desc', async () => ({ query: {}, after: await deepPosition('DESC', 'sort_time') }), /^recordings_organization_id_sort_time_id_idx$/],
    ['after 10,000 rows, creationTime asc', async () => ({ query: { sortBy: 'creationTime', sortOrder: 'asc' }, after: await deepPosition('ASC', 'creation_time') }), /^recordings_organization_id_creation_time_id_idx$/],
  ]

  it.each(CASES)('%s: no sequential scan, the expected index', async (name, arrange, index) => {
    const { query, after } = await arrange()
    const { plan } = await explain(pageQuery(query, after))
    // what it costs, for the failure message and the log
    const analyzed = await explain(pageQuery(query, after), true)
    const read = nodes(analyzed.plan).filter((n) => n['Relation Name'] === 'recordings')
      .map((n) => `${n['Node Type']} ${n['Index Name'] ?? ''}: ${n['Actual Rows']} rows kept, ${n['Rows Removed by Filter'] ?? 0} removed by filter`)
    const summary = `${name}: ${show(plan)} [${read.join('; ')}; ${analyzed.executionMs?.toFixed(3)} ms]`
    console.log(summary)
    const all = nodes(plan)
    expect(all.filter((n) => n['Node Type'] === 'Seq Scan' && BIG_TABLES.includes(n['Relation Name'] ?? '')).map(show), summary).toEqual([])
    const indexes = all.map((n) => n['Index Name']).filter((name): name is string => Boolean(name))
    expect(indexes.some((used) => index.test(used)), summary).toBe(true)
    // the recordings themselves are always reached through an index led by the organization (or by id, from rows
    // found that way), a bitmap heap scan through its bitmap index scans
    const onRecordings = all.filter((n) => n['Relation Name'] === 'recordings')
    expect(onRecordings.length).toBeGreaterThan(0)
    for (const n of onRecordings) {
      const used = n['Node Type'] === 'Bitmap Heap Scan' ? nodes(n).slice(1).map((child) => child['Index Name'] ?? child['Node Type']) : [n['Index Name'] ?? n['Node Type']]
      for (const index of used) expect(index, summary).toMatch(n['Index Name'] === 'recordings_pkey' ? /^recordings_pkey$/ : ORGANIZATION_INDEXES)
    }
  })

  /** Median execution time of a query over 7 runs, by EXPLAIN (ANALYZE). */
  async function time(sql: Prisma.Sql) {
    const runs: number[] = []
    for (let i = 0; i < 7; i++) runs.push((await explain(sql, true)).executionMs as number)
    return runs.sort((a, b) => a - b)[3] as number
  }

  it('answers a page 10,000 rows deep about as fast as the first (measured, not asserted)', async () => {
    const position = await deepPosition('DESC', 'sort_time')
    const first = await time(pageQuery({}))
    const deep = await time(pageQuery({}, position))
    const offset = await time(Prisma.sql`SELECT id FROM recordings WHERE organization_id = ${big}::uuid ORDER BY sort_time DESC, id DESC OFFSET 10000 LIMIT 26`)
    console.log(`median execution: first page ${first.toFixed(3)} ms, page after 10,000 rows ${deep.toFixed(3)} ms (OFFSET 10000 for comparison: ${offset.toFixed(3)} ms)`)
    // what makes it fast: the position is an index condition, not a filter over the rows before it
    const { plan } = await explain(pageQuery({}, position))
    const scan = nodes(plan).find((n) => n['Index Name'] === 'recordings_organization_id_sort_time_id_idx')
    expect(String(scan?.['Index Cond']), show(plan)).toMatch(/sort_time/)
    expect(scan?.Filter, JSON.stringify(scan)).toBeUndefined()
    // and the deep page is the right one: the 26 rows after row 10,000
    const rows = await ctx.app.prisma.$queryRaw<{ id: string }[]>(pageQuery({}, position))
    const { rows: expected } = await ctx.sql.query<{ id: string }>(
      'SELECT id FROM recordings WHERE organization_id = $1 ORDER BY sort_time DESC, id DESC OFFSET 10000 LIMIT 26', [big])
    expect(rows.map((row) => row.id)).toEqual(expected.map((row) => row.id))
  })

  it('q: computes the text query once, not once per row it filters', async () => {
    // recording_search_config() is STABLE, so websearch_to_tsquery(recording_search_config(), ...) is not folded into
    // a constant: in a Filter it is evaluated again for every row the index scan reads.
    const { plan } = await explain(pageQuery({ q: 'refund' }))
    const perRow = nodes(plan).filter((n) => /recording_search_config/.test(String(n.Filter ?? '')))
    const service = await time(pageQuery({ q: 'refund' }))
    const once = await time(Prisma.sql`SELECT r.id, r.sort_time AS key FROM recordings r
      WHERE r.organization_id = ${big}::uuid AND r.search_vector @@ websearch_to_tsquery('simple', 'refund')
      ORDER BY r.sort_time DESC, r.id DESC LIMIT 26`)
    console.log(`q=refund first page: ${service.toFixed(3)} ms as the service writes it, ${once.toFixed(3)} ms with the text query computed once`)
    expect(perRow.map((n) => `${n['Node Type']} ${n['Index Name'] ?? ''} Filter: ${String(n.Filter)}`), `${service.toFixed(3)} ms against ${once.toFixed(3)} ms`).toEqual([])
  })
})
