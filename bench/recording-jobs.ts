// Bulk recording jobs in the bench: a DELETE job over many recordings (POST: PENDING, READY; PUT PROCESSING:
// FULFILLED), against the same row updates made directly in SQL, and the latency of the API while such a job runs,
// against the same load on the idle service. The job only sets deleteDate: the retention sweep deletes later, and the
// bench does not wait for it (the service runs with RETENTION_SWEEP_SECONDS=86400, so no sweep deletes them meanwhile).
import type pg from 'pg'
import { drive, sleep, type Plan, type Run, type Server } from './load.js'
import { figures, int, seconds, type RatioResult } from './report.js'
import { UUID7_FUNCTION } from './seed.js'

export const RECORDING_JOB_KEYS = ['jobs-delete', 'jobs-p99']

export type RecordingJobResult = RatioResult

export interface RecordingJobSettings {
  smoke: boolean
  duration: number
  warmup: number
  connections: number
}

/** A day no other recording of the bench lies in: the job's conversationQuery.interval. */
const DAY = { start: '2001-01-01T00:00:00.000Z', end: '2001-01-02T00:00:00.000Z' }
/** RECORDING_JOB_BATCH_SIZE, unset for the service: its default. */
const BATCH_SIZE = 100

interface Job {
  id: string
  state: string
  totalRecordings?: number
  totalProcessedRecordings?: number
  totalSkippedRecordings?: number
  totalFailedRecordings?: number
  errorMessage?: string
}

/** One job's life, in ms of performance.now(). */
interface Timeline {
  job: Job
  actionDate: string
  posted: number
  ready: number
  executed: number
  fulfilled: number
}


export async function measureRecordingJobs(options: {
  keys: string[]
  service: Server
  runId: string
  /** The organization of the bench client, whose recordings the job selects. */
  organizationId: string
  settings: RecordingJobSettings
  /** The bench's own connection to the service's database: it seeds the job's recordings and removes them after. */
  sql: pg.Client
  /** Get-one paths of the seeded recordings (none of them in the job's interval), for the latency row. */
  getPaths: string[]
  log: (line: string) => void
}): Promise<RecordingJobResult[]> {
  const { keys, service, runId, organizationId, settings, sql, getPaths, log } = options
  const size = settings.smoke ? 2000 : 100_000
  const results: RecordingJobResult[] = []
  const jobs: string[] = []
  let ids: string[] = []

  const api = async <T>(method: string, apiPath: string, body?: object): Promise<T> => {
    const res = await fetch(`${service.url}${apiPath}`, {
      method,
      headers: { ...service.headers, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${apiPath} answered ${res.status}: ${text.slice(0, 300)}`)
    return (text ? JSON.parse(text) : {}) as T
  }
  /** GET of the job every 250 ms until it is `state`; FAILED or CANCELLED end the wait with an error. */
  const until = async (id: string, state: string): Promise<Job> => {
    const deadline = Date.now() + 1_800_000
    for (;;) {
      const job = await api<Job>('GET', `/api/v2/recording/jobs/${id}`)
      if (job.state === state) return job
      if (['FAILED', 'CANCELLED'].includes(job.state)) throw new Error(`the job became ${job.state}${job.errorMessage ? `: ${job.errorMessage}` : ''}`)
      if (Date.now() > deadline) throw new Error(`the job was still ${job.state} after 30 minutes`)
      await sleep(250)
    }
  }
  /**
   * A DELETE job over the day's recordings, actionDate now, from the POST to FULFILLED; `whileProcessing` starts right
   * after the PUT that executes it.
   */
  const runJob = async (whileProcessing?: () => Promise<void>): Promise<Timeline> => {
    const actionDate = new Date().toISOString()
    const posted = performance.now()
    const created = await api<Job>('POST', '/api/v2/recording/jobs', { action: 'DELETE', actionDate, conversationQuery: { interval: `${DAY.start}/${DAY.end}` } })
    jobs.push(created.id)
    const collected = await until(created.id, 'READY')
    const ready = performance.now()
    if (collected.totalRecordings !== size) throw new Error(`the job collected ${collected.totalRecordings} recordings, not ${size}`)
    await api<Job>('PUT', `/api/v2/recording/jobs/${created.id}`, { state: 'PROCESSING' })
    const executed = performance.now()
    // Settled at once, so a failure of the load cannot go unhandled while the job is polled.
    const load = whileProcessing?.().then(() => undefined, (error: unknown) => error)
    const job = await until(created.id, 'FULFILLED')
    const fulfilled = performance.now()
    const failed = await load
    if (failed !== undefined) throw failed
    return { job, actionDate, posted, ready, executed, fulfilled }
  }
  /** What the job did, checked against the rows: every recording processed, and dated actionDate. */
  const verify = async (timeline: Timeline): Promise<string> => {
    const { job } = timeline
    const { rows: [row] } = await sql.query<{ dated: number }>(
      `SELECT count(*)::int AS dated FROM recordings WHERE id = ANY($1::uuid[]) AND delete_date = $2::timestamptz`, [ids, timeline.actionDate],
    )
    const counts = `totalRecordings ${int(job.totalRecordings ?? 0)}, processed ${int(job.totalProcessedRecordings ?? 0)}, skipped ${int(job.totalSkippedRecordings ?? 0)}, failed ${int(job.totalFailedRecordings ?? 0)}`
    const ok = job.totalProcessedRecordings === size && row?.dated === size
    return ok ? `${counts}; all ${int(size)} recordings have deleteDate = actionDate` : `**${counts}; ${int(row?.dated ?? 0)} of ${int(size)} recordings have deleteDate = actionDate**`
  }

  const wanted = (key: string) => keys.includes(key)
  const throughput: RecordingJobResult = {
    key: 'jobs-delete',
    label: `DELETE job over ${int(size)} recordings`,
    detail:
      `Recordings per second of a DELETE job (actionDate now) whose conversationQuery.interval covers ${int(size)} chat recordings of one day ` +
      `(seeded in SQL, no other recording in that day): from POST /api/v2/recording/jobs (202, PENDING) through READY (the recordings ` +
      `collected), PUT {"state": "PROCESSING"}, to FULFILLED, the job read with GET every 250 ms, nothing else running. The service runs ` +
      `it in batches of ${BATCH_SIZE} (RECORDING_JOB_BATCH_SIZE), one background job and transaction each. Baseline: the same recordings ` +
      `selected by the same interval, then the same UPDATE of deleteDate (and of later archive and export dates) from the bench, ${BATCH_SIZE} ` +
      'recordings per transaction: the row work alone, without the job bookkeeping, the queue and the polling. The job only sets deleteDate: ' +
      'the retention sweep deletes the recordings later, which is not waited for (nor measured).',
    unit: 'recordings/s',
    names: { measured: 'service, POST to FULFILLED', baseline: 'the UPDATEs in SQL' },
  }
  const paced = Math.min(10, settings.connections)
  const latency: RecordingJobResult = {
    key: 'jobs-p99',
    label: 'get one: p99 at a steady rate while a DELETE job runs',
    detail:
      `GET …/recordings/{id}?formatId=NONE (metadata) of ${int(getPaths.length)} seeded recordings outside the job's day, in turn, at a fixed rate ` +
      `of a quarter of what the idle service answered under ${settings.connections} connections, over ${paced} connections, for ` +
      `${settings.duration} s from the PUT that executes a DELETE job over the ${int(size)} recordings (a second job over them, after the row ` +
      'above), against the same rate on the idle service just before.',
    unit: 'ms',
    names: { measured: 'p99 while PROCESSING', baseline: 'p99 idle' },
    target: { atMost: 1.5 },
  }
  if (wanted('jobs-delete')) results.push(throughput)
  if (wanted('jobs-p99')) results.push(latency)

  try {
    // The recordings of the job: one day of chats, 4 per conversation, made as seed.ts makes rows (its uuid7), without
    // children. The conversation prefix is the one a reused database is cleaned of.
    const seeding = performance.now()
    await sql.query(UUID7_FUNCTION.replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION'))
    const { rows: [role] } = await sql.query<{ superuser: boolean }>(`SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`)
    // A superuser skips the triggers: no search document is computed for these rows (they are never searched).
    if (role?.superuser) await sql.query(`SET session_replication_role = replica`)
    try {
      const { rows } = await sql.query<{ id: string }>(
        `INSERT INTO recordings (id, organization_id, conversation_id, name, start_time, end_time, media, file_state, session_id,
           recording_file_role, original_recording_start_time, creation_time, updated_at)
         SELECT pg_temp.uuid7(t.at + interval '70 seconds'), $1::uuid, 'bench-ingest-jobs-' || $2 || '-' || k / 4, 'Chat about invoice', t.at,
           t.at + interval '60 seconds', 'chat', 'AVAILABLE', md5('bench job ' || k), 'CUSTOMER_EXPERIENCE', t.at, t.at + interval '70 seconds', now()
         FROM generate_series(0, $3::int - 1) k
         CROSS JOIN LATERAL (SELECT $4::timestamptz + k * (86000000 / $3::int) * interval '1 millisecond' AS at) t
         RETURNING id::text`,
        [organizationId, runId, size, DAY.start],
      )
      ids = rows.map((row) => row.id)
    } finally {
      if (role?.superuser) await sql.query(`SET session_replication_role = DEFAULT`)
    }
    await sql.query('ANALYZE recordings')
    const { rows: [inDay] } = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM recordings WHERE organization_id = $1::uuid
         AND coalesce(start_time, creation_time) < $3::timestamptz AND coalesce(end_time, start_time, creation_time) >= $2::timestamptz`,
      [organizationId, DAY.start, DAY.end],
    )
    if (inDay?.n !== size) throw new Error(`${inDay?.n} recordings lie in ${DAY.start.slice(0, 10)}, not the ${size} seeded: a previous run left some`)
    log(`bench: bulk jobs: ${int(size)} recordings seeded in ${seconds(performance.now() - seeding)}`)

    if (wanted('jobs-delete')) {
      try {
        // The baseline first: the job then changes every date again, as it would the first time.
        const direct = performance.now()
        const date = new Date().toISOString()
        const { rows: selected } = await sql.query<{ id: string }>(
          `SELECT id::text FROM recordings WHERE organization_id = $1::uuid
             AND coalesce(start_time, creation_time) < $3::timestamptz AND coalesce(end_time, start_time, creation_time) >= $2::timestamptz ORDER BY id`,
          [organizationId, DAY.start, DAY.end],
        )
        const collectedMs = performance.now() - direct
        let updated = 0
        for (let i = 0; i < selected.length; i += BATCH_SIZE) {
          const batch = selected.slice(i, i + BATCH_SIZE).map((row) => row.id)
          const { rowCount } = await sql.query(
            `UPDATE recordings r SET delete_date = $2::timestamptz,
               archive_date = CASE WHEN r.archive_date > $2::timestamptz THEN $2::timestamptz ELSE r.archive_date END,
               export_date = CASE WHEN r.export_date > $2::timestamptz THEN $2::timestamptz ELSE r.export_date END
             WHERE r.id = ANY($1::uuid[]) AND r.organization_id = $3::uuid`,
            [batch, date, organizationId],
          )
          updated += rowCount ?? 0
        }
        const directMs = performance.now() - direct
        if (updated !== size) throw new Error(`the direct UPDATEs changed ${updated} recordings, not ${size}`)

        const timeline = await runJob()
        const serviceMs = timeline.fulfilled - timeline.posted
        throughput.measured = size / (serviceMs / 1000)
        throughput.baseline = size / (directMs / 1000)
        throughput.samples = { measured: [serviceMs], baseline: [directMs] }
        throughput.check = await verify(timeline)
        throughput.note =
          `${seconds(serviceMs)} in all: POST to READY ${seconds(timeline.ready - timeline.posted)}, PUT to FULFILLED ${seconds(timeline.fulfilled - timeline.executed)} ` +
          `(${int(Math.ceil(size / BATCH_SIZE))} batches); SQL: ${seconds(directMs)} (selecting ${seconds(collectedMs)})`
        log(`bench: bulk jobs ${throughput.label}: ${int(throughput.measured)} vs ${int(throughput.baseline)} recordings/s in SQL (${throughput.note}); ${throughput.check}`)
      } catch (error) {
        throughput.unavailable = error instanceof Error ? error.message : String(error)
        log(`bench: bulk jobs ${throughput.label}: not available (${throughput.unavailable})`)
      }
    }

    if (wanted('jobs-p99')) {
      try {
        const plan: Plan = { method: 'GET', paths: getPaths.map((p) => `${p}?formatId=NONE`) }
        const run = (connections: number, rate?: number) => drive(service, plan, { connections, seconds: settings.duration, backends: async () => undefined, ...(rate ? { rate } : {}) })
        if (settings.warmup > 0) await drive(service, plan, { connections: settings.connections, seconds: settings.warmup, backends: async () => undefined })
        const idleFull = figures([await run(settings.connections)])
        const rate = Math.max(10, Math.round(idleFull.rps / 4))
        const idle = figures([await run(paced, rate)])
        let busyRun: Run | undefined
        let windowStart = 0
        let windowEnd = 0
        const timeline = await runJob(async () => {
          windowStart = performance.now()
          busyRun = await run(paced, rate)
          windowEnd = performance.now()
        })
        if (!busyRun) throw new Error('the load did not run')
        const busy = figures([busyRun])
        const window = windowEnd - windowStart
        const processing = timeline.fulfilled >= windowEnd
          ? `the job was PROCESSING through the whole ${seconds(window)} window (FULFILLED ${seconds(timeline.fulfilled - windowEnd)} after it)`
          : `**the job was FULFILLED ${seconds(timeline.fulfilled - windowStart)} into the ${seconds(window)} window**`
        latency.measured = busy.p99
        latency.baseline = idle.p99
        latency.check = `${processing}; ${await verify(timeline)}`
        latency.note =
          `p50 ${busy.p50.toFixed(1)} vs ${idle.p50.toFixed(1)} ms; ${int(busy.rps)} vs ${int(idle.rps)} req/s (${rate} req/s asked)` +
          `${busy.failed + idle.failed > 0 ? `; ${busy.failed} and ${idle.failed} failed` : ''}; this job took ${seconds(timeline.fulfilled - timeline.executed)} from PUT to FULFILLED`
        log(`bench: bulk jobs ${latency.label}: p99 ${busy.p99.toFixed(1)} vs ${idle.p99.toFixed(1)} ms idle (${latency.note}); ${latency.check}`)
      } catch (error) {
        latency.unavailable = error instanceof Error ? error.message : String(error)
        log(`bench: bulk jobs latency: not available (${latency.unavailable})`)
      }
    }
  } catch (error) {
    for (const result of results) result.unavailable ??= error instanceof Error ? error.message : String(error)
    log(`bench: bulk jobs: not available (${error instanceof Error ? error.message : String(error)})`)
  } finally {
    // Finished jobs are removed by their DELETE; the recordings go too, before any sweep would delete them.
    for (const id of jobs) await api('DELETE', `/api/v2/recording/jobs/${id}`).catch(() => undefined)
    for (let i = 0; i < ids.length; i += 10_000) await sql.query(`DELETE FROM recordings WHERE id = ANY($1::uuid[])`, [ids.slice(i, i + 10_000)])
    if (ids.length > 0) await sql.query('VACUUM (ANALYZE) recordings')
  }
  return results
}
