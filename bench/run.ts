// `npm run bench [-- options]`: seeds a dataset, starts the service (node dist/server.js) and a hand-written baseline
// (bench/baseline.ts) over the same tables, drives both alternately with autocannon and reports requests/s,
// latencies, peak RSS and the service/baseline ratio per endpoint. Progress goes to stderr, the report to stdout and
// to bench/results/. Targets are read from the figures, never asserted: a benchmark informs, it does not fail.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { openDatabase, ROOT } from './database.js'
import { drive, memory, startBaseline, startService, type Plan, type Run, type Server, type ServerName } from './load.js'
import { MEDIA_KEYS, measureMedia, type MediaResult } from './media.js'
import { measureRecordingJobs, RECORDING_JOB_KEYS } from './recording-jobs.js'
import { commit, figures, machine, markdown, targets, type EndpointResult, type RatioResult, type Report } from './report.js'
import { MAIN_ORGANIZATION, SEED_VERSION, seed } from './seed.js'
import { measureTranscode, TRANSCODE_KEYS, type TranscodeResult } from './transcode.js'
import { measureWebhooks, WEBHOOK_KEYS } from './webhooks.js'

const USAGE = `npm run bench -- [options]
  --size N          recordings to seed (default 200000, at most 2000000)
  --duration S      seconds per endpoint, server and round (default 10)
  --rounds R        rounds per endpoint (default 2)
  --connections C   concurrent connections (default 50)
  --warmup S        warm-up seconds per endpoint and server (default 2)
  --only a,b        endpoints to run: get, list, first, deep, search, search-single, ingest, media-upload,
                    media-download, media-range, media-rss, transcode-throughput, transcode-wait,
                    transcode-p99, webhooks-ingest, webhooks-ingest-delivering, webhooks-delivery, jobs-delete,
                    jobs-p99 (default all)
  --database NAME   database created on the DATABASE_URL server (default recording_store_bench)
  --reuse           keep that database when it already holds a dataset of this size
  --drop            drop that database at the end
  --out DIR         where results go (default bench/results; a smoke run saves none unless given)
  --smoke           a few hundred rows, 1 round of 1 s, 5 connections, 1 MB media, one 2-second call per
                    transcode, 5 webhook events, a bulk job over 2,000 recordings: checks that the bench works
Without DATABASE_URL an embedded PostgreSQL runs in a temporary directory.`

const { values: args } = parseArgs({
  options: {
    size: { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    connections: { type: 'string' },
    warmup: { type: 'string' },
    only: { type: 'string' },
    database: { type: 'string', default: 'recording_store_bench' },
    reuse: { type: 'boolean', default: false },
    drop: { type: 'boolean', default: false },
    out: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(USAGE)
  process.exit(0)
}
const smoke = args.smoke
const number = (value: string | undefined, fallback: number, name: string, min: number, max: number) => {
  const n = value === undefined ? fallback : Number(value)
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number from ${min} to ${max}\n\n${USAGE}`)
  return n
}
const settings = {
  size: Math.round(number(args.size, smoke ? 300 : 200_000, 'size', 100, 2_000_000)),
  duration: number(args.duration, smoke ? 1 : 10, 'duration', 1, 600),
  rounds: Math.round(number(args.rounds, smoke ? 1 : 2, 'rounds', 1, 20)),
  connections: Math.round(number(args.connections, smoke ? 5 : 50, 'connections', 1, 1000)),
  warmup: number(args.warmup, smoke ? 0.25 : 2, 'warmup', 0, 60),
  poolSize: Math.round(number(process.env.DATABASE_POOL_SIZE, 10, 'DATABASE_POOL_SIZE', 1, 500)),
}
const outDir = args.out ?? (smoke ? undefined : path.join(ROOT, 'bench', 'results'))
const log = (line: string) => process.stderr.write(`${line}\n`)
const started = new Date()
const loadBefore = os.loadavg()
const builtFrom = commit()
const runId = started.getTime().toString(36)
const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

/**
 * Full-text queries, used in turn: words in ~20%, ~1% and ~4% of the recordings, and two words together. The first
 * is the one whose answers are compared, so it matches even in a smoke run.
 */
const QUERIES = ['invoice', 'chargeback', 'warranty', 'invoice refund']
const PAGE_SIZE = 25

class Unavailable extends Error {}

async function getJson(server: Server, path: string): Promise<unknown> {
  const res = await fetch(`${server.url}${path}`, { headers: server.headers })
  const text = await res.text()
  if (res.status !== 200) throw new Unavailable(`${server.name} answered ${res.status} to GET ${path.slice(0, 80)}: ${text.slice(0, 160)}`)
  return JSON.parse(text)
}

/** Follows nextUri from the first page until `depth` rows are behind; returns the path of the page after them. */
async function pageAfter(server: Server, depth: number): Promise<string> {
  let path = `/api/v2/recordings?pageSize=${PAGE_SIZE}`
  for (let seen = 0; seen < depth;) {
    const page = (await getJson(server, path)) as { entities: unknown[]; nextUri?: string }
    seen += page.entities.length
    if (!page.nextUri) throw new Unavailable(`${server.name}: the listing ended after ${seen} rows`)
    path = page.nextUri
  }
  return path
}

/** The first place where two answers differ ("" when they are the same). */
function difference(a: unknown, b: unknown, at = ''): string {
  if (Object.is(a, b)) return ''
  const show = (value: unknown) => JSON.stringify(value)?.slice(0, 60) ?? 'absent'
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) {
    return `${at || 'the answer'}: ${show(a)} vs ${show(b)}`
  }
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()
  for (const key of keys) {
    const found = difference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], Array.isArray(a) ? `${at}[${key}]` : `${at}.${key}`)
    if (found) return found
  }
  return ''
}

/** Ids, links and creation times differ between two ingests of the same body; everything else must not. */
function withoutIdentity(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutIdentity)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, ['id', 'selfUri', 'conversationId', 'creationTime'].includes(key) && typeof v === 'string' ? '…' : withoutIdentity(v)]))
}

/** What the ingest endpoint receives: one chat recording with 5 annotations, 10 messages and its agent. */
function ingestBody(): string {
  const start = new Date(started.getTime() - 30 * 86_400_000)
  const at = (seconds: number) => new Date(start.getTime() + seconds * 1000).toISOString()
  const agent = { id: 'bench-agent-1', name: 'Agent 1', username: 'agent1', email: 'agent1@example.com', division: { id: 'bench-division', name: 'Support' } }
  return JSON.stringify({
    name: 'Chat about invoice',
    media: 'chat',
    startTime: at(0),
    endTime: at(600),
    sessionId: 'bench-session',
    recordingFileRole: 'CUSTOMER_EXPERIENCE',
    users: [agent],
    annotations: Array.from({ length: 5 }, (_, i) => ({
      name: `bookmark ${i + 1}`, type: 'bookmark', location: (i + 1) * 60_000, durationMs: 5_000, description: 'customer asked about the invoice', user: agent,
    })),
    transcript: Array.from({ length: 10 }, (_, i) => ({
      id: `message-${i + 1}`,
      body: i % 2 === 0 ? `Customer line ${i + 1}: a question about my invoice and a refund` : `Agent line ${i + 1}: let me look into the invoice for you`,
      from: i % 2 === 0 ? 'customer' : agent.id,
      to: i % 2 === 0 ? agent.id : 'customer',
      utc: at(i * 40),
      type: 'message',
      bodyType: 'STANDARD',
      participantPurpose: i % 2 === 0 ? 'customer' : 'agent',
      ...(i % 2 === 0 ? {} : { user: { id: agent.id, name: agent.name, displayName: agent.name, username: agent.username } }),
    })),
  })
}

interface Endpoint {
  key: string
  label: string
  detail: string
  /** Connections for this endpoint when not the run's (the unloaded latency of search). */
  connections?: number
  /** What each server is sent; throws Unavailable when the service cannot serve it. */
  plan(server: Server): Promise<Plan>
  /** Compares one answer of each server: a description of the outcome. */
  check(plans: Record<ServerName, Plan>, servers: Server[]): Promise<string>
}

async function compareFirst(plans: Record<ServerName, Plan>, servers: Server[], pick: (body: unknown) => unknown = (body) => body): Promise<string> {
  const answers = await Promise.all(servers.map((server) => {
    const paths = plans[server.name].paths
    return getJson(server, typeof paths === 'function' ? paths(0) : (paths[0] as string))
  }))
  const found = difference(pick(answers[0]), pick(answers[1]))
  return found ? `they differ (${found}; service first)` : 'identical'
}

async function main() {
  log(`bench: ${fmt(settings.size)} recordings, ${settings.connections} connections, ${settings.rounds} × ${settings.duration} s per endpoint and server${smoke ? ' (smoke)' : ''}`)
  const marker = `recording-store bench: ${settings.size} recordings, seed ${SEED_VERSION}`
  const database = await openDatabase({ name: args.database, marker, reuse: args.reuse, log })
  const sql = new pg.Client({ connectionString: database.url })
  await sql.connect()
  const servers: Server[] = []
  // The service's DATA_DIR (stored media) and the files the bench uploads, on the disk of the system's temp dir.
  const work = await mkdtemp(path.join(os.tmpdir(), 'recording-store-bench-media-'))
  const dataDir = path.join(work, 'data')
  try {
    let seeded: string
    if (database.seeded) {
      const removed = await sql.query(`DELETE FROM recordings WHERE conversation_id LIKE 'bench-ingest-%'`)
      if (removed.rowCount) await sql.query('VACUUM (ANALYZE)')
      seeded = `reused from an earlier run (${fmt(removed.rowCount ?? 0)} ingested recordings removed)`
    } else {
      const result = await seed(sql, settings.size, log)
      await database.markSeeded()
      seeded = `seeded in ${Math.round(result.seconds)} s`
    }

    const { rows: [counts] } = await sql.query<Record<string, string>>(`SELECT
      (SELECT count(*) FROM recordings) AS recordings, (SELECT count(*) FROM annotations) AS annotations,
      (SELECT count(*) FROM chat_messages) AS chat_messages, (SELECT count(*) FROM messaging_messages) AS messaging_messages,
      (SELECT count(*) FROM email_messages) AS email_messages, (SELECT count(*) FROM media_results) AS media_results,
      (SELECT count(*) FROM recording_users) AS recording_users,
      (SELECT count(DISTINCT conversation_id) FROM recordings) AS conversations,
      (SELECT count(*) FROM recordings WHERE organization_id = '${MAIN_ORGANIZATION}') AS main`)
    const rows = Object.fromEntries(Object.entries(counts ?? {}).map(([key, value]) => [key, Number(value)]))
    const queries = []
    for (const q of QUERIES) {
      const { rows: [hits] } = await sql.query<{ n: string }>(
        `SELECT count(*) AS n FROM recordings WHERE organization_id = $1 AND search_vector @@ websearch_to_tsquery(recording_search_config(), $2)`,
        [MAIN_ORGANIZATION, q],
      )
      queries.push({ q, hits: Number(hits?.n) })
    }
    const mainCount = rows.main ?? 0
    const { rows: chats } = await sql.query<{ conversation_id: string; id: string }>(
      `SELECT conversation_id, id FROM recordings WHERE organization_id = $1 AND media = 'chat' ORDER BY md5(id::text) LIMIT 1000`,
      [MAIN_ORGANIZATION],
    )
    const { rows: conversations } = await sql.query<{ conversation_id: string; n: string }>(
      `SELECT conversation_id, count(*) AS n FROM recordings WHERE organization_id = $1 AND conversation_id NOT LIKE 'bench-%'
       GROUP BY conversation_id ORDER BY md5(conversation_id) LIMIT 500`,
      [MAIN_ORGANIZATION],
    )
    const { rows: [{ version: serverVersion } = { version: '?' }] } = await sql.query<{ version: string }>(`SELECT current_setting('server_version') AS version`)
    const perConversation = conversations.reduce((sum, row) => sum + Number(row.n), 0) / Math.max(1, conversations.length)
    // "Page after 10,000 rows", or half the organization's rows when it has fewer (smoke runs).
    const depth = mainCount >= 10_000 + 2 * PAGE_SIZE ? 10_000 : Math.max(PAGE_SIZE, Math.floor(mainCount / 2 / PAGE_SIZE) * PAGE_SIZE)

    // The CPU the servers' PostgreSQL backends use can be read when the database runs on this machine.
    const local = ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(database.url).hostname)
    const backends = async (server: Server): Promise<number[] | undefined> => {
      if (!local) return undefined
      const { rows: found } = await sql.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
        [server.appName],
      )
      return found.map((row) => row.pid)
    }

    // The largest media the bench uploads is 200 MB. The webhook receiver listens on 127.0.0.1. The retention sweep runs
    // once at the start and not again for a day: the bulk job's recordings, due at once, are not deleted under the
    // measurements (the bench removes them itself).
    servers.push(await startService(database.url, settings.poolSize, {
      DATA_DIR: dataDir, MEDIA_MAX_BYTES: String(2 ** 30), WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', RETENTION_SWEEP_SECONDS: '86400',
    }))
    servers.push(await startBaseline(database.url, settings.poolSize, MAIN_ORGANIZATION))
    log(`bench: service on ${servers[0]?.url} (pid ${servers[0]?.pid}), baseline on ${servers[1]?.url} (pid ${servers[1]?.pid})`)

    const ingestCounter = { n: 0 }
    // Listings are compared by their entities: links and cursors differ between the two servers by design.
    const compareEntities: Endpoint['check'] = (plans, s) => compareFirst(plans, s, (body) => (body as { entities: unknown }).entities)
    const searchPlan: Endpoint['plan'] = async (server) => {
      const paths = QUERIES.map((q) => `/api/v2/recordings?q=${encodeURIComponent(q)}&pageSize=${PAGE_SIZE}`)
      await getJson(server, paths[0] as string)
      return { method: 'GET', paths }
    }
    const endpoints: Endpoint[] = [
      {
        key: 'get',
        label: 'get one',
        detail: `GET /api/v2/conversations/{c}/recordings/{id}, ${fmt(chats.length)} chat recordings in turn (each ~5 annotations, ~10 messages, 1–2 users).`,
        plan: async () => ({ method: 'GET', paths: chats.map((row) => `/api/v2/conversations/${row.conversation_id}/recordings/${row.id}`) }),
        check: (plans, s) => compareFirst(plans, s),
      },
      {
        key: 'list',
        label: 'list by conversation',
        detail: `GET /api/v2/conversations/{c}/recordings, ${fmt(conversations.length)} conversations in turn (${perConversation.toFixed(1)} recordings each on average, every one with its children).`,
        plan: async () => ({ method: 'GET', paths: conversations.map((row) => `/api/v2/conversations/${row.conversation_id}/recordings`) }),
        check: (plans, s) => compareFirst(plans, s),
      },
      {
        key: 'first',
        label: 'organization-wide first page',
        detail: `GET /api/v2/recordings?pageSize=${PAGE_SIZE}: the organization's newest recordings (metadata and client annotations).`,
        plan: async (server) => {
          const path = `/api/v2/recordings?pageSize=${PAGE_SIZE}`
          await getJson(server, path)
          return { method: 'GET', paths: [path] }
        },
        check: compareEntities,
      },
      {
        key: 'deep',
        label: `page after ${fmt(depth)} rows`,
        detail: `The same listing at the cursor of the page after ${fmt(depth)} rows (reached once by following nextUri ${depth / PAGE_SIZE} times), requested over and over.`,
        plan: async (server) => ({ method: 'GET', paths: [await pageAfter(server, depth)] }),
        check: compareEntities,
      },
      {
        key: 'search',
        label: 'full-text search',
        detail: `GET /api/v2/recordings?q=…&pageSize=${PAGE_SIZE}, newest first with snippets, the queries ${QUERIES.map((q) => `\`${q}\``).join(', ')} in turn.`,
        plan: searchPlan,
        check: compareEntities,
      },
      {
        // Under 50 connections on a saturated server, latency is mostly queueing (connections / throughput); the
        // latency one user sees is measured with a single connection.
        key: 'search-single',
        label: 'full-text search, 1 connection',
        detail: 'The same searches, one request at a time: the latency of a search on an otherwise idle server.',
        connections: 1,
        plan: searchPlan,
        check: compareEntities,
      },
      {
        key: 'ingest',
        label: 'ingest with children',
        detail: 'POST /api/v2/conversations/{c}/recordings, a new conversation each time: 1 chat recording + 5 annotations + 10 messages + 1 user, answered with the stored recording. Runs last (it writes).',
        plan: async (server) => ({
          method: 'POST',
          paths: () => `/api/v2/conversations/bench-ingest-${runId}-${server.name}-${ingestCounter.n++}/recordings`,
          body: ingestBody(),
        }),
        check: async (plans, s) => {
          const answers = await Promise.all(s.map(async (server) => {
            const plan = plans[server.name]
            const res = await fetch(`${server.url}${(plan.paths as (n: number) => string)(0)}`, {
              method: 'POST', headers: { ...server.headers, 'content-type': 'application/json' }, body: plan.body ?? '',
            })
            if (res.status !== 201) throw new Unavailable(`${server.name} answered ${res.status} to the ingest: ${(await res.text()).slice(0, 160)}`)
            return withoutIdentity(await res.json())
          }))
          const found = difference(answers[0], answers[1])
          return found ? `they differ (${found}; service first)` : 'identical apart from ids, links and creation time'
        },
      },
    ]
    const only = args.only?.split(',').map((key) => key.trim())
    const chosen = only ? endpoints.filter((endpoint) => only.includes(endpoint.key)) : endpoints

    const results: EndpointResult[] = []
    const loadDuring: number[] = []
    for (const endpoint of chosen) {
      const result: EndpointResult = { key: endpoint.key, label: endpoint.label, detail: endpoint.detail }
      results.push(result)
      let plans: Record<ServerName, Plan>
      try {
        plans = Object.fromEntries(await Promise.all(servers.map(async (server) => [server.name, await endpoint.plan(server)] as const))) as Record<ServerName, Plan>
        result.check = await endpoint.check(plans, servers)
      } catch (error) {
        if (!(error instanceof Unavailable)) throw error
        result.unavailable = error.message
        log(`bench: ${endpoint.label}: not available (${error.message})`)
        continue
      }
      log(`bench: ${endpoint.label}: answers ${result.check}`)
      const connections = endpoint.connections ?? settings.connections
      if (settings.warmup > 0) {
        for (const server of servers) await drive(server, plans[server.name], { connections, seconds: settings.warmup, backends })
      }
      const runs: Record<ServerName, Run[]> = { service: [], baseline: [] }
      for (let round = 0; round < settings.rounds; round++) {
        for (const server of round % 2 === 0 ? servers : [...servers].reverse()) {
          const run = await drive(server, plans[server.name], { connections, seconds: settings.duration, backends })
          runs[server.name].push(run)
          loadDuring.push(os.loadavg()[0] ?? 0)
          const f = figures([run])
          const cpu = f.cpuPerRequest === undefined ? '' : `, ${f.cpuPerRequest.toFixed(2)} ms CPU per request (server ${f.serverCpuPerRequest?.toFixed(2)} ms)`
          log(`bench: ${endpoint.label}, round ${round + 1}, ${server.name}: ${fmt(f.rps)} req/s, p50 ${f.p50.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms${cpu}${run.failed ? `, ${run.failed} failed ${JSON.stringify(run.statusCodes)}` : ''}`)
        }
      }
      result.service = figures(runs.service)
      result.baseline = figures(runs.baseline)
    }

    // Read before the media uploads, which are measured apart.
    const memoryPeak = Object.fromEntries(servers.map((server) => [server.name, memory(server.pid, 'VmHWM')]))
    const mediaKeys = MEDIA_KEYS.filter((key) => !only || only.includes(key))
    const media: MediaResult[] = mediaKeys.length === 0 ? [] : await measureMedia({
      keys: mediaKeys, service: servers[0] as Server, dataDir, work: path.join(work, 'files'), runId, backends, log,
      settings: { smoke, duration: settings.duration, rounds: settings.rounds, warmup: settings.warmup, connections: settings.connections },
    })

    const transcodeKeys = TRANSCODE_KEYS.filter((key) => !only || only.includes(key))
    const transcode: TranscodeResult[] = transcodeKeys.length === 0 ? [] : await measureTranscode({
      keys: transcodeKeys, service: servers[0] as Server, work: path.join(work, 'transcode'), runId, sql, log,
      getPaths: chats.map((row) => `/api/v2/conversations/${row.conversation_id}/recordings/${row.id}`),
      settings: { smoke, duration: settings.duration, warmup: settings.warmup, connections: settings.connections },
    })

    const webhookKeys = WEBHOOK_KEYS.filter((key) => !only || only.includes(key))
    const webhooks: RatioResult[] = webhookKeys.length === 0 ? [] : await measureWebhooks({
      keys: webhookKeys, service: servers[0] as Server, runId, ingestBody: ingestBody(), sql, backends, log,
      startWriter: () => startService(database.url, settings.poolSize, {
        DATA_DIR: dataDir, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', JOB_CONCURRENCY: '0', PGAPPNAME: 'bench-service-writer',
      }),
      settings: { smoke, duration: settings.duration, rounds: settings.rounds, warmup: settings.warmup, connections: settings.connections },
    })

    const jobKeys = RECORDING_JOB_KEYS.filter((key) => !only || only.includes(key))
    const recordingJobs: RatioResult[] = jobKeys.length === 0 ? [] : await measureRecordingJobs({
      keys: jobKeys, service: servers[0] as Server, runId, organizationId: MAIN_ORGANIZATION, sql, log,
      getPaths: chats.map((row) => `/api/v2/conversations/${row.conversation_id}/recordings/${row.id}`),
      settings: { smoke, duration: settings.duration, warmup: settings.warmup, connections: settings.connections },
    })

    const info = machine(serverVersion, builtFrom, loadBefore, loadDuring)
    const report: Report = {
      startedAt: started.toISOString(),
      seconds: (Date.now() - started.getTime()) / 1000,
      smoke,
      settings,
      machine: info,
      dataset: { seeded, rows, conversations: rows.conversations ?? 0, mainOrganization: mainCount, queries },
      endpoints: results,
      targets: [],
      media,
      transcode,
      webhooks,
      recordingJobs,
      memory: memoryPeak,
      notes: [
        `The service, the baseline, PostgreSQL and autocannon all run on this machine and share its ${os.cpus().length} cores: absolute figures are lower than with the load generator elsewhere, and they vary between runs. Compare the ratios, which come from the same run.`,
        'The baseline (bench/baseline.ts) is a minimal Fastify + pg server: one prepared statement per endpoint builds the whole JSON answer in PostgreSQL, passed through as text. It skips authentication (the service checks a bearer token on every request), request validation, the rate limit and security headers, so it is a ceiling rather than a competitor.',
        'CPU per request: user + system CPU time of the server process and of its own PostgreSQL backends (told apart by application_name) during the timed rounds, over the 2xx answers; load generator excluded. It is then split into the server process (Node: HTTP, authentication, validation, the driver) and its PostgreSQL backends (planning and running the statements, building the JSON). Unlike req/s it hardly depends on what else runs on the machine, so its ratio is the steadier one when the machine is shared.',
        'Latencies are those of 2xx answers, from autocannon\'s per-response timings pooled over the rounds; req/s counts 2xx answers only. Peak RSS is the highest VmRSS sampled every 100 ms during the timed rounds.',
        'Ingest writes through the full-text triggers; its rows (conversations bench-ingest-*) are removed when the database is reused (--reuse).',
        ...(media.length === 0 ? [] : [
          'Media: the service and bench/media-baseline.ts share one DATA_DIR in the system\'s temp directory. The baseline writes an upload and fsyncs it, nothing else; the service also hashes it (SHA-256), sniffs its type, reads its duration, renames it into place, fsyncs the directory and records it in PostgreSQL. Reads come from the page cache after the first: they measure the servers, not the disk. Uploads stream from a file the bench made, in the page cache too.',
        ]),
        ...(transcode.length === 0 ? [] : [
          `Transcoding: the service runs at most ${Math.max(1, os.availableParallelism() - 1)} ffmpeg at once (TRANSCODE_CONCURRENCY unset: one less than the CPUs), its PostgreSQL and the bench share the rest of the machine. CPU times come from /proc/<pid>/stat in clock ticks (getconf CLK_TCK); a ffmpeg process counts once it has exited. Each upload queues a waveform (ffmpeg too): the bench waits for the job queue to hold none before it measures.`,
        ]),
        ...(webhooks.length === 0 ? [] : [
          'Webhooks: the receiver is a node:http server in the bench process (it shares that process with autocannon), answering 204 at once and checking each signature (standardwebhooks). The bench deletes its subscriptions and the events they got at the end of the section.',
        ]),
        ...(recordingJobs.length === 0 ? [] : [
          `Bulk jobs: the job's ${smoke ? '2,000' : '100,000'} recordings are chats without children, inserted in SQL for the run (triggers off, as in the seed) on a day no other recording lies in, and removed by the bench at the end of the section. A DELETE job only sets deleteDate; the retention sweep deletes the recordings later, and is not waited for: the service runs with RETENTION_SWEEP_SECONDS=86400 (one sweep at the start, none during the run), so no sweep works under the measurements.`,
        ]),
      ],
    }
    report.targets = targets(results, settings, memoryPeak)

    const text = markdown(report)
    process.stdout.write(`\n${text}`)
    if (outDir) {
      await mkdir(outDir, { recursive: true })
      const stamp = report.startedAt.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
      const json = `${JSON.stringify(report, null, 2)}\n`
      await writeFile(path.join(outDir, `${stamp}.json`), json)
      await writeFile(path.join(outDir, `${stamp}.md`), text)
      await writeFile(path.join(outDir, 'latest.json'), json)
      await writeFile(path.join(outDir, 'latest.md'), text)
      log(`bench: results saved as ${path.relative(process.cwd(), path.join(outDir, stamp))}.{json,md} and latest.{json,md}`)
    }
  } finally {
    for (const server of servers) await server.stop()
    await rm(work, { recursive: true, force: true })
    await sql.end()
    await database.close({ drop: args.drop })
  }
}

await main()
