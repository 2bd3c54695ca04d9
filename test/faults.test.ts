import pg from 'pg'
import { randomUUID } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, ingest, recordingsUrl } from './helpers.js'
import { wav } from './media.js'
import { BOOTSTRAP, killLeftovers, privatePostgres, startService, tokenFrom, type PrivatePostgres, type Service } from './processes.js'

/**
 * The service as a real process over a PostgreSQL of the suite's own, which it stops, starts and locks while the
 * service is under load, and the service killed in the middle of writes.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const SERVICE_ENV = {
  ...BOOTSTRAP,
  RATE_LIMIT_PER_MINUTE: '1000000',
  TOKEN_RATE_LIMIT_PER_MINUTE: '1000000',
  DATABASE_POOL_SIZE: '4',
  DATABASE_CONNECT_TIMEOUT_MS: '1000',
  DATABASE_STATEMENT_TIMEOUT_MS: '1500',
}

interface Seen {
  status: number
  at: number
  /** When the request was sent. */
  sent: number
  retryAfter: string | null
  code?: string
  oauthError?: string
  path: string
}

/** One recording with `annotations` annotations and `messages` chat messages; the counts are in its name. */
function nestedIngest(tag: string, n: number) {
  const annotations = (n % 3) + 1
  const messages = (n % 4) + 1
  return {
    name: `${tag}-${n}-a${annotations}-m${messages}`,
    media: 'chat',
    annotations: Array.from({ length: annotations }, (_, i) => ({ name: `note ${i}`, type: 'bookmark', location: i * 1000, durationMs: 0 })),
    transcript: Array.from({ length: messages }, (_, i) => ({ body: `message ${i} of ${n}`, id: `m${i}` })),
  }
}

describe('faults: the database stops, slows down, or the service is killed', () => {
  let database: PrivatePostgres
  let service: Service
  let token: string
  let sql: pg.Pool

  beforeAll(async () => {
    database = await privatePostgres()
    service = await startService({ DATABASE_URL: database.url, ...SERVICE_ENV })
    token = await tokenFrom(service.baseUrl)
    sql = new pg.Pool({ connectionString: database.url, max: 2 })
    // The pool reports connections the stopped server ended; without a listener that is an uncaught error.
    sql.on('error', () => {})
  }, 120_000)

  afterAll(async () => {
    await sql?.end()
    killLeftovers()
    await database?.remove()
  })

  /** Concurrent clients, each sending requests in a loop until told to stop; every answer is recorded. */
  function load(baseUrl: string, clients: number) {
    const seen: Seen[] = []
    const failures: string[] = []
    let stopping = false
    const auth = { authorization: `Bearer ${token}` }
    const requests = [
      () => ({ path: '/api/v2/conversations/c-load-0/recordings', init: { headers: auth } }),
      (n: number) => ({
        path: `/api/v2/conversations/c-load-${n % 5}/recordings`,
        init: { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(nestedIngest('load', n)) },
      }),
      () => ({ path: '/api/v2/recordings?q=message', init: { headers: auth } }),
      () => ({
        path: '/oauth/token',
        init: {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${BOOTSTRAP.BOOTSTRAP_CLIENT_ID}:${BOOTSTRAP.BOOTSTRAP_CLIENT_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        },
      }),
    ]
    let sentCount = 0
    const client = async (index: number) => {
      for (let n = index; !stopping; n += clients) {
        const { path, init } = (requests[n % requests.length] as (n: number) => { path: string; init: RequestInit })(n)
        const sent = performance.now()
        sentCount++
        try {
          const res = await fetch(`${baseUrl}${path}`, { ...init, signal: AbortSignal.timeout(10_000) })
          const body = (await res.json()) as { code?: string; error?: string }
          seen.push({ status: res.status, at: performance.now(), sent, retryAfter: res.headers.get('retry-after'), code: body.code, oauthError: body.error, path })
        } catch (error) {
          failures.push(`${path}: ${String(error)}`)
        }
      }
    }
    const running = Array.from({ length: clients }, (_, index) => client(index))
    return {
      seen,
      failures,
      sent: () => sentCount,
      async stop() {
        stopping = true
        await Promise.all(running)
      },
    }
  }

  const tally = (answers: Seen[]) =>
    answers.reduce<Record<string, number>>((counts, { status, code }) => {
      const key = status === 503 ? `503 ${code}` : String(status)
      counts[key] = (counts[key] ?? 0) + 1
      return counts
    }, {})

  it('answers only 2xx or 503 with Retry-After and the error body while PostgreSQL is stopped, and recovers within seconds of its restart', async () => {
    // The listing in the load has something to list from the first request on.
    const seeded = await fetch(`${service.baseUrl}/api/v2/conversations/c-load-0/recordings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(nestedIngest('load', 0)),
    })
    expect(seeded.status).toBe(201)
    const traffic = load(service.baseUrl, 12)
    await sleep(1_000)
    const stopped = performance.now()
    await database.stop()
    await sleep(5_000)
    const ready = await fetch(`${service.baseUrl}/health/ready`)
    expect(ready.status).toBe(503)
    await database.start()
    const restarted = performance.now()
    // Recovered: from the first answer after the restart, every request sent later succeeds.
    let recoveredAt: number | undefined
    for (const deadline = restarted + 10_000; performance.now() < deadline; await sleep(100)) {
      const after = traffic.seen.filter((s) => s.sent >= restarted)
      const firstOk = after.find((s) => s.status < 300)
      if (firstOk && after.filter((s) => s.sent > firstOk.sent).length >= 20 && after.every((s) => s.sent <= firstOk.sent || s.status < 300)) {
        recoveredAt = firstOk.at
        break
      }
    }
    await sleep(500)
    await traffic.stop()

    const during = traffic.seen.filter((s) => s.at >= stopped && s.sent < restarted)
    const recoveryMs = recoveredAt === undefined ? undefined : Math.round(recoveredAt - restarted)
    const slowest = Math.round(Math.max(...during.map((s) => s.at - s.sent)))
    console.log(
      `outage under load: ${traffic.sent()} requests sent by 12 clients; during the ${Math.round(restarted - stopped)} ms outage: ` +
        `${JSON.stringify(tally(during))}; all answers: ${JSON.stringify(tally(traffic.seen))}; ` +
        `slowest answer during the outage: ${slowest} ms; recovery after the restart: ${recoveryMs ?? 'none'} ms; ` +
        `transport failures: ${traffic.failures.length}`,
    )

    expect(traffic.failures).toEqual([])
    expect(during.filter((s) => s.status === 503).length).toBeGreaterThan(0)
    // Nobody waits on the dead database longer than the connection wait (1 s here) and a little.
    expect(slowest).toBeLessThan(3_000)
    const unexpected = traffic.seen.filter((s) => !(s.status < 300 || (s.status === 503 && s.retryAfter !== null && s.code === 'database.unavailable')))
    expect(unexpected).toEqual([])
    // The token endpoint answers in OAuth terms too.
    expect(traffic.seen.filter((s) => s.path === '/oauth/token' && s.status === 503).every((s) => s.oauthError === 'temporarily_unavailable')).toBe(true)
    expect(recoveryMs).toBeDefined()
    expect(recoveryMs).toBeLessThan(5_000)
    expect((await fetch(`${service.baseUrl}/health/ready`)).status).toBe(200)
  }, 60_000)

  it('bounds every wait: a statement stuck behind a lock and requests waiting for a connection answer 503 in time', async () => {
    const holder = await sql.connect()
    try {
      await holder.query('BEGIN')
      await holder.query('LOCK TABLE recordings IN ACCESS EXCLUSIVE MODE')
      const started = performance.now()
      // More requests than the pool has connections (4): the first wait on the lock, the others for a connection.
      const answers = await Promise.all(
        Array.from({ length: 8 }, async () => {
          const res = await fetch(`${service.baseUrl}/api/v2/conversations/c-locked/recordings`, { headers: { authorization: `Bearer ${token}` } })
          return { status: res.status, retryAfter: res.headers.get('retry-after'), code: ((await res.json()) as { code?: string }).code, ms: Math.round(performance.now() - started) }
        }),
      )
      console.log(`locked table: ${JSON.stringify(answers.map(({ code, ms }) => `${code} in ${ms} ms`))}`)
      for (const answer of answers) {
        expect(answer).toMatchObject({ status: 503, retryAfter: '5', code: expect.stringMatching(/^database\.(timeout|unavailable)$/) })
        // statement_timeout 1.5 s, connection wait 1 s: nobody waits for the lock to go.
        expect(answer.ms).toBeLessThan(5_000)
      }
      expect(answers.some((a) => a.code === 'database.timeout')).toBe(true)
    } finally {
      await holder.query('ROLLBACK')
      holder.release()
    }
    const after = await fetch(`${service.baseUrl}/api/v2/conversations/c-locked/recordings`, { headers: { authorization: `Bearer ${token}` } })
    expect(after.status).toBe(404)
  })

  it('keeps every acknowledged recording whole and leaves no partial one when the service is killed during nested ingests', async () => {
    const acknowledged: { id: string; conversationId: string; sent: ReturnType<typeof nestedIngest> }[] = []
    let killed = false
    const transportFailures: unknown[] = []
    const writer = async (index: number) => {
      for (let n = index; !killed; n += 16) {
        const conversationId = `c-kill-${n % 7}`
        const sent = nestedIngest('kill', n)
        try {
          const res = await fetch(`${service.baseUrl}/api/v2/conversations/${conversationId}/recordings`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify(sent),
          })
          if (res.status === 201) acknowledged.push({ id: ((await res.json()) as { id: string }).id, conversationId, sent })
          else expect.soft(res.status, await res.text()).toBe(201)
        } catch (error) {
          transportFailures.push(error)
        }
      }
    }
    const writers = Array.from({ length: 16 }, (_, index) => writer(index))
    await sleep(1_500)
    service.process.kill('SIGKILL')
    killed = true
    await Promise.all(writers)
    expect(await service.exited).toMatchObject({ signal: 'SIGKILL' })

    service = await startService({ DATABASE_URL: database.url, ...SERVICE_ENV, MIGRATE_ON_START: 'false' })
    const auth = { authorization: `Bearer ${await tokenFrom(service.baseUrl)}` }
    for (const { id, conversationId, sent } of acknowledged) {
      const res = await fetch(`${service.baseUrl}/api/v2/conversations/${conversationId}/recordings/${id}`, { headers: auth })
      expect(res.status).toBe(200)
      const stored = (await res.json()) as { name: string; annotations?: { name: string }[]; transcript?: { body: string }[] }
      expect(stored.name).toBe(sent.name)
      expect(stored.annotations?.map((a) => a.name)).toEqual(sent.annotations.map((a) => a.name))
      expect(stored.transcript?.map((m) => m.body)).toEqual(sent.transcript.map((m) => m.body))
    }

    // Every row, acknowledged or not, has exactly the children its ingest sent (the counts are in its name).
    const { rows } = await sql.query<{ name: string; annotations: number; messages: number }>(`
      SELECT r.name,
             (SELECT count(*)::int FROM annotations a WHERE a.recording_id = r.id) AS annotations,
             (SELECT count(*)::int FROM chat_messages m WHERE m.recording_id = r.id) AS messages
        FROM recordings r WHERE r.conversation_id LIKE 'c-kill-%'`)
    const partial = rows.filter((row) => {
      const [, annotations, messages] = /-a(\d+)-m(\d+)$/.exec(row.name) ?? []
      return row.annotations !== Number(annotations) || row.messages !== Number(messages)
    })
    console.log(
      `SIGKILL during nested ingests: ${acknowledged.length} acknowledged (201), ${rows.length} stored, ` +
        `${rows.length - acknowledged.length} stored but unacknowledged, ${transportFailures.length} cut off by the kill, ${partial.length} partial`,
    )
    expect(acknowledged.length).toBeGreaterThan(0)
    expect(transportFailures.length).toBeGreaterThan(0)
    expect(rows.length).toBeGreaterThanOrEqual(acknowledged.length)
    expect(partial).toEqual([])
  }, 60_000)

  it('runs background jobs again once PostgreSQL is back: a recording deleted after an outage has its media removed, and webhook events flow again', async () => {
    // The suite's service runs jobs on this database too, over a DATA_DIR of its own: it would take the job and find
    // nothing to remove (instances with local storage share one DATA_DIR). This instance is the only one left.
    service.process.kill('SIGTERM')
    await service.exited
    const instance = await createTestContext({ DATABASE_CONNECT_TIMEOUT_MS: '1000', WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' }, { databaseUrl: database.url })
    // A receiver of recording.deleted events: their delivery needs the instance to hear the database's notification
    // again (its listening connection died with the server).
    const deletedEvents: string[] = []
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { topicName: string; eventBody: { id: string } }
        if (event.topicName === 'recording.deleted') deletedEvents.push(event.eventBody.id)
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    try {
      const subscribed = await instance.inject({
        method: 'POST', url: '/api/v2/recording/webhooks',
        payload: { name: 'outage', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, events: ['recording.deleted'] },
      })
      expect(subscribed.statusCode, subscribed.body).toBe(201)
      const conversationId = randomUUID()
      const recording = await ingest(instance, conversationId, { name: 'outage', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
      const put = await instance.inject({ method: 'PUT', url: `${recordingsUrl(conversationId)}/${recording.id}/media`, payload: wav(0.25), headers: { 'content-type': 'audio/wav' } })
      expect(put.statusCode, put.body).toBe(200)
      const media = path.join(instance.config.DATA_DIR, 'media')
      const files = async () => (await readdir(media, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).length
      expect(await files()).toBe(1)

      await database.stop()
      await sleep(3_000)
      await database.start()
      // The first requests after the restart may meet connections the restart ended; the delete is retried as a client would.
      let deleted = 0
      for (const deadline = Date.now() + 10_000; deleted !== 204 && Date.now() < deadline; await sleep(200)) {
        deleted = (await instance.inject({ method: 'DELETE', url: `${recordingsUrl(conversationId)}/${recording.id}` })).statusCode
      }
      expect(deleted).toBe(204)
      for (const deadline = Date.now() + 20_000; (await files()) > 0 && Date.now() < deadline; ) await sleep(200)
      expect(await files()).toBe(0)
      for (const deadline = Date.now() + 20_000; deletedEvents.length === 0 && Date.now() < deadline; ) await sleep(200)
      expect(deletedEvents).toEqual([recording.id])
    } finally {
      await instance.close()
      receiver.close()
    }
  }, 60_000)
})
