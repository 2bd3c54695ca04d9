// The retention sweep under API load: GET one recording at a fixed rate, idle and while the sweep deletes a backlog of
// expired recordings (each with an annotation, a user and stored media, as ingest and upload leave them); p50/p99 of
// both, and the sweep's throughput. `npm run build && tsc -p bench/tsconfig.json && node bench/dist/retention.js`
// (DATABASE_URL as for the bench; EXPIRED, RATE, BATCH, SWEEP_SECONDS to change the figures).
import autocannon from 'autocannon'
import pg from 'pg'
import { openDatabase } from './database.js'
import { startService, type Server } from './load.js'

const EXPIRED = Number(process.env.EXPIRED ?? 100_000)
const LIVE = 10_000
const RATE = Number(process.env.RATE ?? 200)
const ORGANIZATION = '00000000-0000-7000-8000-000000000001'
const log = (line: string) => console.log(line)

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN

/** GET one of the live recordings at RATE requests/s for `seconds`; the latencies of 200s. */
async function load(server: Server, targets: string[], seconds: number): Promise<{ latencies: number[]; failed: number }> {
  let n = 0
  const latencies: number[] = []
  // overallRate: a fixed request rate, which bench/autocannon.d.ts does not declare.
  const instance = autocannon({
    url: server.url,
    connections: 10,
    ...({ overallRate: RATE } as object),
    duration: seconds,
    headers: server.headers,
    requests: [{ method: 'GET', setupRequest: (request) => ({ ...request, path: targets[n++ % targets.length] as string }) }],
  })
  instance.on('response', (_client, status, _bytes, ms) => {
    if (status === 200) latencies.push(ms)
  })
  const result = await instance
  return { latencies, failed: result.non2xx + result.errors }
}

const summary = (latencies: number[]) => {
  const sorted = [...latencies].sort((a, b) => a - b)
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) }
}

const database = await openDatabase({ name: 'rs_bench_retention', marker: 'retention', reuse: false, log })
const sql = new pg.Client({ connectionString: database.url })
await sql.connect()
try {
  log(`seeding ${EXPIRED} recordings to expire and ${LIVE} to read`)
  await sql.query(`INSERT INTO organizations (id, name) VALUES ($1, 'bench') ON CONFLICT DO NOTHING`, [ORGANIZATION])
  await sql.query(
    `INSERT INTO recordings (id, organization_id, conversation_id, file_state, media, start_time)
     SELECT gen_random_uuid(), $1, CASE WHEN i <= $2::int THEN 'doomed-' ELSE 'live-' END || (i % 5000), 'AVAILABLE', 'audio', now()
     FROM generate_series(1, $2::int + $3::int) i`,
    [ORGANIZATION, EXPIRED, LIVE],
  )
  await sql.query(`INSERT INTO annotations (id, recording_id, name, location) SELECT gen_random_uuid(), id, 'note', 10 FROM recordings`)
  await sql.query(`INSERT INTO recording_users (recording_id, organization_id, ordinal, user_id, name) SELECT id, organization_id, 0, 'agent', 'Agent' FROM recordings`)
  await sql.query(
    `INSERT INTO stored_media (recording_id, storage_key, content_type, size_in_bytes, sha256)
     SELECT id, organization_id::text || '/' || id::text || '/media.wav', 'audio/wav', 1, '\\x00' FROM recordings`,
  )
  await sql.query('VACUUM ANALYZE')
  const { rows } = await sql.query<{ conversation_id: string; id: string }>(`SELECT conversation_id, id FROM recordings WHERE conversation_id LIKE 'live-%'`)
  const targets = rows.map((row) => `/api/v2/conversations/${row.conversation_id}/recordings/${row.id}`)

  const server = await startService(database.url, 10, {
    RETENTION_SWEEP_SECONDS: process.env.SWEEP_SECONDS ?? '1',
    ...(process.env.BATCH ? { RETENTION_BATCH_SIZE: process.env.BATCH } : {}),
  })
  try {
    await load(server, targets, 5)
    const idle = await load(server, targets, 20)
    log(`idle: GET one at ${RATE}/s: ${JSON.stringify(summary(idle.latencies))}, failed ${idle.failed}`)

    await sql.query(`UPDATE recordings SET delete_date = now() WHERE conversation_id LIKE 'doomed-%'`)
    const started = performance.now()
    let sweeping = true
    let seconds = 0
    const remaining = async () => Number((await sql.query<{ n: string }>(`SELECT count(*) AS n FROM recordings WHERE delete_date IS NOT NULL`)).rows[0]?.n)
    const watch = (async () => {
      while ((await remaining()) > 0) await new Promise((resolve) => setTimeout(resolve, 100))
      seconds = (performance.now() - started) / 1000
      sweeping = false
    })()
    const during: number[] = []
    let failed = 0
    while (sweeping) {
      const run = await load(server, targets, 5)
      during.push(...run.latencies)
      failed += run.failed
    }
    await watch
    const [a, b] = [summary(idle.latencies), summary(during)]
    log(`sweeping: GET one at ${RATE}/s: ${JSON.stringify(b)}, failed ${failed}`)
    log(`sweep: ${EXPIRED} recordings in ${seconds.toFixed(1)} s = ${Math.round(EXPIRED / seconds)} recordings/s`)
    log(`p99 while sweeping / idle: ${(b.p99 / a.p99).toFixed(2)}x; p50: ${(b.p50 / a.p50).toFixed(2)}x`)
  } finally {
    await server.stop()
  }
} finally {
  await sql.end()
  await database.close({ drop: true })
}
