// Webhooks in the bench: what one enabled subscription costs the API (the ingest of the first table with a
// subscription to every event, against the same load with none, in the same run): on the write path alone, and with
// the deliveries made meanwhile on the same machine; and how fast its events reach a receiver on this machine (against
// the rate at which the same requests wrote them). Events are written in the writing transaction (the outbox) and
// delivered by the service's jobs.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type pg from 'pg'
import { Webhook as Verifier } from 'standardwebhooks'
import { drive, sleep, type Plan, type Run, type Server } from './load.js'
import { figures, int, seconds, type RatioResult } from './report.js'

export const WEBHOOK_KEYS = ['webhooks-ingest', 'webhooks-ingest-delivering', 'webhooks-delivery']

export type WebhookResult = RatioResult

export interface WebhookSettings {
  smoke: boolean
  duration: number
  rounds: number
  warmup: number
  connections: number
}

/** One POST the receiver got. */
interface Received {
  /** webhook-id: the event id, the same on every retry of it. */
  id: string
  topic: string
  recordingId?: string | undefined
  conversationId?: string | undefined
  /** performance.now() when its body had arrived. */
  at: number
  /** Signed with the secret of one of the bench's subscriptions. */
  valid: boolean
}

/** A node:http server answering 204 to every POST, keeping what each carried and checking its signature. */
async function startReceiver() {
  const received: Received[] = []
  const verifiers: Verifier[] = []
  const header = (headers: IncomingHttpHeaders, name: string) => String(headers[name] ?? '')
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const signed = { 'webhook-id': header(req.headers, 'webhook-id'), 'webhook-timestamp': header(req.headers, 'webhook-timestamp'), 'webhook-signature': header(req.headers, 'webhook-signature') }
      // Deliveries of a subscription deleted a moment ago may still arrive: any of the bench's secrets will do.
      const valid = verifiers.some((verifier) => {
        try {
          verifier.verify(body, signed)
          return true
        } catch {
          return false
        }
      })
      let event: { topicName?: string; eventBody?: { id?: string; conversationId?: string } } = {}
      try {
        event = JSON.parse(body) as typeof event
      } catch {
        // Counted with an empty topic: the check below reports it.
      }
      received.push({ id: signed['webhook-id'], topic: event.topicName ?? '', recordingId: event.eventBody?.id, conversationId: event.eventBody?.conversationId, at: performance.now(), valid })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/recording-events`,
    received,
    trust: (secret: string) => verifiers.push(new Verifier(secret)),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}


export async function measureWebhooks(options: {
  keys: string[]
  /** Started with WEBHOOK_ALLOW_PRIVATE_TARGETS=true: the receiver listens on 127.0.0.1. */
  service: Server
  runId: string
  /** The body of the ingest row of the first table: 1 chat recording + 5 annotations + 10 messages + 1 user. */
  ingestBody: string
  settings: WebhookSettings
  /** The bench's own connection to the service's database: it reads the job queue and the deliveries. */
  sql: pg.Client
  backends: (server: Server) => Promise<number[] | undefined>
  /**
   * Starts a second instance of the service on the same database that runs no jobs (JOB_CONCURRENCY=0), with
   * PostgreSQL connections of its own application_name: the write path measured alone.
   */
  startWriter: () => Promise<Server>
  log: (line: string) => void
}): Promise<WebhookResult[]> {
  const { keys, service, runId, ingestBody, settings, sql, backends, startWriter, log } = options
  const results: WebhookResult[] = []
  const receiver = await startReceiver()
  const started = new Date()
  const subscriptions = new Set<string>()

  const api = async (method: string, apiPath: string, body?: object, on: Server = service): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${on.url}${apiPath}`, {
      method,
      headers: { ...on.headers, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${apiPath.slice(0, 80)} answered ${res.status}: ${text.slice(0, 300)}`)
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
  }
  const subscribe = async (): Promise<string> => {
    const { body } = await api('POST', '/api/v2/recording/webhooks', { name: `bench ${runId}`, url: receiver.url, events: ['*'] })
    const id = String(body.id)
    receiver.trust(String(body.secret))
    subscriptions.add(id)
    return id
  }
  /**
   * Deletes the subscription (its pending deliveries go with it) and clears its delivery jobs (keyed
   * `webhook:<subscription>:<subject>`): left queued, they would find nothing to deliver but would still run during the
   * next round, the baseline's included. They are completed with graphile-worker's complete_jobs instead; one running
   * still is waited for.
   */
  const unsubscribe = async (id: string) => {
    await api('DELETE', `/api/v2/recording/webhooks/${id}`)
    subscriptions.delete(id)
    const keys = `webhook:${id}:%`
    const deadline = Date.now() + 120_000
    for (;;) {
      await sql.query(
        `SELECT graphile_worker.complete_jobs(ARRAY(SELECT id FROM graphile_worker.jobs WHERE key LIKE $1 AND locked_at IS NULL))`, [keys],
      )
      const { rows: [row] } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE key LIKE $1`, [keys])
      if ((row?.n ?? 0) === 0) return
      if (Date.now() > deadline) throw new Error(`${row?.n} delivery jobs of a deleted subscription still queued after 2 minutes`)
      await sleep(50)
    }
  }
  const quiet = async () => {
    const deadline = Date.now() + 600_000
    for (;;) {
      const { rows: [row] } = await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE task_identifier = 'webhooks.deliver' AND attempts < max_attempts`,
      )
      if ((row?.n ?? 0) === 0) return
      if (Date.now() > deadline) throw new Error(`${row?.n} webhook delivery jobs still queued after 10 minutes`)
      await sleep(100)
    }
  }
  const conversation = (tag: string, n: number) => `bench-ingest-webhooks-${runId}-${tag}-${n}`
  const counters: Record<string, number> = {}
  const plan = (tag: string): Plan => ({
    method: 'POST',
    paths: () => {
      counters[tag] = (counters[tag] ?? 0) + 1
      return `/api/v2/conversations/${conversation(tag, counters[tag])}/recordings`
    },
    body: ingestBody,
  })
  /** recording.created events the receiver got for the conversations of `tag`. */
  const createdOf = (tag: string) => receiver.received.filter((event) => event.topic === 'recording.created' && event.conversationId?.startsWith(`bench-ingest-webhooks-${runId}-${tag}-`))

  try {
    // No subscription of another run may be left: every enabled one would get the events too.
    const { rows: [left] } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhooks WHERE enabled`)
    if ((left?.n ?? 0) > 0) throw new Error(`${left?.n} enabled webhook subscriptions are in the database already: every one would get the events too`)
    await quiet()

    /**
     * The ingest with one subscription against none on `target`, alternating, `rounds` windows each. `writer`: the
     * windows run on the instance that runs no jobs while the service (the one that delivers) is stopped (SIGSTOP), so
     * that the events wait in the outbox and nothing is delivered during them; it is continued (SIGCONT) after each.
     */
    const compareIngest = async (result: WebhookResult, target: Server, writer: boolean) => {
      const hold = async <T>(work: () => Promise<T>): Promise<T> => {
        if (!writer) return work()
        process.kill(service.pid, 'SIGSTOP')
        try {
          return await work()
        } finally {
          process.kill(service.pid, 'SIGCONT')
        }
      }
      const side = (tag: string, duration: number) => hold(() => drive(target, plan(tag), { connections: settings.connections, seconds: duration, backends }))
      const withSubscription = async (tag: string, duration: number): Promise<{ run: Run; delivered: number }> => {
        const id = await subscribe()
        const run = await side(tag, duration)
        const end = performance.now()
        const delivered = createdOf(tag).filter((event) => event.at <= end).length
        await unsubscribe(id)
        return { run, delivered }
      }
      const prefix = `${result.key}-`
      if (settings.warmup > 0) {
        await side(`${prefix}warm-none`, settings.warmup)
        await withSubscription(`${prefix}warm-with`, settings.warmup)
      }
      const runs: { none: Run[]; with: Run[] } = { none: [], with: [] }
      let delivered = 0
      for (let round = 0; round < settings.rounds; round++) {
        for (const which of round % 2 === 0 ? (['none', 'with'] as const) : (['with', 'none'] as const)) {
          let run: Run
          if (which === 'with') {
            const outcome = await withSubscription(`${prefix}with-${round}`, settings.duration)
            run = outcome.run
            delivered += outcome.delivered
          } else {
            run = await side(`${prefix}none-${round}`, settings.duration)
          }
          runs[which].push(run)
          const f = figures([run])
          log(`bench: ${result.key}, round ${round + 1}, ${which === 'with' ? 'with a subscription' : 'no subscription'}: ${int(f.rps)} req/s, p99 ${f.p99.toFixed(1)} ms${run.failed ? `, ${run.failed} failed ${JSON.stringify(run.statusCodes)}` : ''}`)
        }
      }
      const measured = figures(runs.with)
      const baseline = figures(runs.none)
      result.measured = measured.rps
      result.baseline = baseline.rps
      result.samples = { measured: measured.rounds, baseline: baseline.rounds }
      const cpu = measured.cpuPerRequest !== undefined && baseline.cpuPerRequest !== undefined
        ? `; CPU per request (server process and its PostgreSQL backends${writer ? '' : ', deliveries included'}) ${measured.cpuPerRequest.toFixed(2)} vs ${baseline.cpuPerRequest.toFixed(2)} ms`
        : ''
      result.note =
        `p50 ${measured.p50.toFixed(1)} vs ${baseline.p50.toFixed(1)} ms, p99 ${measured.p99.toFixed(1)} vs ${baseline.p99.toFixed(1)} ms${cpu}; ` +
        `${int(delivered)} of the ${int(measured.ok)} recording.created events delivered by the end of their window` +
        `${measured.failed + baseline.failed > 0 ? `; ${measured.failed} and ${baseline.failed} failed` : ''}`
      result.check = `${int(measured.ok)} ingests with the subscription, ${int(baseline.ok)} without`
      log(`bench: webhooks ${result.label}: ${int(measured.rps)} vs ${int(baseline.rps)} req/s (${result.note})`)
    }
    const ingestDetail =
      'The ingest of the first table (POST …/recordings, 1 chat recording + 5 annotations + 10 messages + 1 user, a new conversation each time), ' +
      `autocannon with ${settings.connections} connections, ${settings.rounds} round${settings.rounds === 1 ? '' : 's'} × ${settings.duration} s after ` +
      `${settings.warmup} s of warm-up each: with one enabled subscription to every event (each ingest writes a recording.created event and its ` +
      'delivery in its transaction), against the same load with none (the triggers find no enabled subscription and write ' +
      'nothing), the two alternating. The subscription is deleted after each of its rounds (its pending deliveries go with it) and the ' +
      "delivery jobs left are cleared (graphile-worker's complete_jobs) before the next round, so no backlog runs into the baseline."

    if (keys.includes('webhooks-ingest')) {
      const result: WebhookResult = {
        key: 'webhooks-ingest',
        label: 'ingest with children: 1 subscription vs none, the write path',
        detail:
          `${ingestDetail} Measured on a second instance of the service that runs no jobs, while the first (which would dispatch and deliver) ` +
          'is stopped (SIGSTOP) during the windows: the events wait in the outbox, and what is measured is what writing them costs the ingest.',
        unit: 'req/s',
        names: { measured: 'with a subscription', baseline: 'no subscription' },
        target: { atLeast: 0.9 },
      }
      results.push(result)
      let writer: Server | undefined
      try {
        writer = await startWriter()
        await compareIngest(result, writer, true)
      } catch (error) {
        result.unavailable = error instanceof Error ? error.message : String(error)
        log(`bench: webhooks ${result.label}: not available (${result.unavailable})`)
      } finally {
        await writer?.stop()
      }
    }

    if (keys.includes('webhooks-ingest-delivering')) {
      const result: WebhookResult = {
        key: 'webhooks-ingest-delivering',
        label: 'ingest with children: 1 subscription vs none, delivering meanwhile',
        detail:
          `${ingestDetail} Measured on the service, which dispatches and delivers the events during the windows on the same two cores (the ` +
          'receiver runs in the bench process, with autocannon): informative, since delivering takes CPU the ingest would otherwise have.',
        unit: 'req/s',
        names: { measured: 'with a subscription', baseline: 'no subscription' },
      }
      results.push(result)
      try {
        await compareIngest(result, service, false)
      } catch (error) {
        result.unavailable = error instanceof Error ? error.message : String(error)
        log(`bench: webhooks ${result.label}: not available (${result.unavailable})`)
      }
    }

    if (keys.includes('webhooks-delivery')) {
      const count = settings.smoke ? 5 : 2000
      // Deliveries go on after the last ingest at the pace of the job queue's poll; the wait is bounded.
      const patience = settings.smoke ? 60_000 : 120_000
      const result: WebhookResult = {
        key: 'webhooks-delivery',
        label: `recording.created delivered, ${int(count)} ingests`,
        detail:
          `With one enabled subscription to every event and nothing queued, ${int(count)} ingests (the request above) sent over ${settings.connections} ` +
          'connections as fast as they are answered; delivered: events per second from the first request until the receiver has got the ' +
          `recording.created events of all ${int(count)} (distinct webhook-ids); written: the same ${int(count)} ingests per second, from the first ` +
          'request to the last answer (each writes its event in its transaction). The ratio is informative: the events of different recordings ' +
          'are delivered side by side, those of one recording in order. The receiver is waited for at most ' +
          `${patience / 1000} s after the last ingest answered; events still missing then are reported, and the rate counts those that arrived.`,
        unit: 'events/s',
        names: { measured: 'delivered', baseline: 'written (ingest rate)' },
      }
      results.push(result)
      try {
        const id = await subscribe()
        const tag = 'count'
        const ingested: string[] = []
        let next = 0
        const begun = performance.now()
        await Promise.all(Array.from({ length: Math.min(settings.connections, count) }, async () => {
          while (next < count) {
            const n = next++
            const { body } = await api('POST', `/api/v2/conversations/${conversation(tag, n)}/recordings`, JSON.parse(ingestBody) as object)
            ingested.push(String(body.id))
          }
        }))
        const answered = performance.now()
        const deadline = Date.now() + patience
        const distinct = () => new Set(createdOf(tag).map((event) => event.id)).size
        while (distinct() < count && Date.now() < deadline) await sleep(10)
        const events = createdOf(tag)
        const complete = distinct() >= count
        const last = complete ? Math.max(...events.map((event) => event.at)) : performance.now()
        // A second delivery of an event would come right after the first: a moment's grace before counting them.
        await sleep(settings.smoke ? 300 : 1000)
        const { rows: [deliveries] } = await sql.query<{ delivered: number; attempts: number; total: number }>(
          `SELECT count(*) FILTER (WHERE state = 'DELIVERED')::int AS delivered, coalesce(sum(attempts), 0)::int AS attempts, count(*)::int AS total
           FROM webhook_deliveries WHERE webhook_id = $1::uuid`, [id],
        )
        await unsubscribe(id)

        const final = createdOf(tag)
        const ids = new Set(final.map((event) => event.id))
        const recordings = new Set(final.map((event) => event.recordingId))
        const problems = [
          ...(complete ? [] : [`only ${int(ids.size)} of ${int(count)} events arrived within ${patience / 1000} s of the last ingest`]),
          ...(final.length > ids.size ? [`${int(final.length - ids.size)} arrived more than once`] : []),
          ...(complete && ingested.some((recording) => !recordings.has(recording)) ? [`${int(ingested.filter((recording) => !recordings.has(recording)).length)} ingested recordings had no event`] : []),
          ...(final.some((event) => !event.valid) ? [`${int(final.filter((event) => !event.valid).length)} signatures did not verify`] : []),
        ]
        result.check = problems.length === 0
          ? `every one of the ${int(count)} events arrived exactly once, one per ingested recording, signed with the subscription's secret`
          : `**${problems.join('; ')}**`
        result.measured = ids.size / ((last - begun) / 1000)
        result.baseline = count / ((answered - begun) / 1000)
        result.samples = { measured: [last - begun], baseline: [answered - begun] }
        result.note =
          `last event ${seconds(last - begun)} after the first request, the last ingest answered after ${seconds(answered - begun)}; ` +
          `${int(deliveries?.delivered ?? 0)} of the subscription's ${int(deliveries?.total ?? 0)} deliveries DELIVERED in ${int(deliveries?.attempts ?? 0)} attempts`
        log(`bench: webhooks ${result.label}: ${result.measured.toFixed(0)} delivered vs ${result.baseline.toFixed(0)} written per s (${result.note}); ${result.check}`)
      } catch (error) {
        result.unavailable = error instanceof Error ? error.message : String(error)
        log(`bench: webhooks ${result.label}: not available (${result.unavailable})`)
      }
    }
  } finally {
    for (const id of [...subscriptions]) await unsubscribe(id).catch(() => undefined)
    await receiver.close()
    // The section's events and their deliveries (those of deleted subscriptions have none left).
    await sql.query(`DELETE FROM webhook_events WHERE created_at >= $1`, [started])
  }
  return results
}
