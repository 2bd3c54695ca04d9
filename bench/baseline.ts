// The hand-written baseline the service is measured against: Fastify + pg, one prepared statement per endpoint in
// which PostgreSQL builds the whole JSON answer, passed through as text. Same paths and answers as the service, over
// the same tables, but no authentication, request validation, rate limit or security headers: it is the ceiling of
// what this stack can do, not a competitor.
//
// Run by bench/run.ts as its own process: DATABASE_URL, PORT (0: any), DATABASE_POOL_SIZE, BENCH_ORGANIZATION_ID.
// Prints {"listening":"http://127.0.0.1:<port>"} once it listens.
import Fastify, { type FastifyReply } from 'fastify'
import pg from 'pg'
import { MAIN_ORGANIZATION } from './seed.js'
import { GET_ONE, INGEST, LIST, page } from './sql.js'

const organizationId = process.env.BENCH_ORGANIZATION_ID ?? MAIN_ORGANIZATION
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_SIZE ?? 10) })

// Listings sort by `sort_time` (start time, else creation time) once the service's migration has added it.
const { rowCount } = await pool.query(
  `SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'recordings' AND column_name = 'sort_time'`,
)
const sortKey = rowCount ? 'sort_time' : 'start_time'
const PAGES = {
  'page-first': page({ after: false, search: false, sortKey }),
  'page-after': page({ after: true, search: false, sortKey }),
  'search-first': page({ after: false, search: true, sortKey }),
  'search-after': page({ after: true, search: true, sortKey }),
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const json = (reply: FastifyReply, status: number, body: string) =>
  reply.code(status).type('application/json; charset=utf-8').send(body)
const notFound = (reply: FastifyReply, what: string) =>
  json(reply, 404, JSON.stringify({ message: `${what} not found`, code: 'not.found', status: 404 }))

const app = Fastify({ logger: false })
// The body goes to PostgreSQL as text; it parses it (and refuses what is not JSON).
app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body))
app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, _request, reply) => {
  const status = error.statusCode ?? (error.code?.startsWith('22') ? 400 : 500)
  return json(reply, status, JSON.stringify({ message: error.message, status }))
})

type Conversation = { Params: { conversationId: string } }
type OneRecording = { Params: { conversationId: string; recordingId: string } }
type Listing = { Querystring: { pageSize?: string; cursor?: string; q?: string } }

app.get<OneRecording>('/api/v2/conversations/:conversationId/recordings/:recordingId', async (request, reply) => {
  const { conversationId, recordingId } = request.params
  if (!UUID.test(recordingId)) return notFound(reply, 'Recording')
  const { rows } = await pool.query<{ body: string; uploading: boolean }>({
    name: 'get-one', text: GET_ONE, values: [organizationId, conversationId, recordingId],
  })
  const row = rows[0]
  return row ? json(reply, row.uploading ? 202 : 200, row.body) : notFound(reply, 'Recording')
})

app.get<Conversation>('/api/v2/conversations/:conversationId/recordings', async (request, reply) => {
  const { rows } = await pool.query<{ body: string | null }>({
    name: 'list', text: LIST, values: [organizationId, request.params.conversationId],
  })
  const body = rows[0]?.body
  return body ? json(reply, 200, body) : notFound(reply, 'Conversation')
})

app.post<Conversation & { Body: string }>('/api/v2/conversations/:conversationId/recordings', async (request, reply) => {
  const { rows } = await pool.query<{ body: string; location: string }>({
    name: 'ingest', text: INGEST, values: [organizationId, request.params.conversationId, request.body],
  })
  const row = rows[0] as { body: string; location: string }
  return json(reply.header('location', row.location), 201, row.body)
})

app.get<Listing>('/api/v2/recordings', async (request, reply) => {
  const { cursor, q } = request.query
  const pageSize = Math.min(Math.max(Number(request.query.pageSize ?? 25) || 25, 1), 100)
  const params = new URLSearchParams(q ? { q } : {})
  params.set('sortBy', 'startTime')
  params.set('sortOrder', 'desc')
  params.set('pageSize', String(pageSize))
  const values: unknown[] = [organizationId, pageSize, cursor ? `/api/v2/recordings?${params}&cursor=${cursor}` : `/api/v2/recordings?${params}`, `/api/v2/recordings?${params}&cursor=`]
  if (cursor) {
    const comma = cursor.lastIndexOf(',')
    values.push(cursor.slice(0, comma), cursor.slice(comma + 1))
  }
  if (q) values.push(q)
  const name = `${q ? 'search' : 'page'}-${cursor ? 'after' : 'first'}` as const
  // Full-text queries run unprepared: how many rows a word matches (1% or 20%) decides the best plan, and a
  // prepared statement would settle on one generic plan for all of them.
  const { rows } = await pool.query<{ body: string }>(q ? { text: PAGES[name], values } : { name, text: PAGES[name], values })
  return json(reply, 200, (rows[0] as { body: string }).body)
})

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
const address = app.server.address()
console.log(JSON.stringify({ listening: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, sortKey }))

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void app.close().then(() => pool.end()).finally(() => process.exit(0))
  })
}
