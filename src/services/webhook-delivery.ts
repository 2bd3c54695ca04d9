import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { LookupFunction } from 'node:net'
import { performance } from 'node:perf_hooks'
import { Webhook as Signer } from 'standardwebhooks'
import { Prisma, type PrismaClient } from '../generated/prisma/client.js'
import { resolveTarget } from './webhook-targets.js'

/** The job that delivers the pending events of one subject (a recording) to one subscription, in order. */
export const DELIVER_TASK = 'webhooks.deliver'
/**
 * A delivery job's payload and key, as SQL over the columns `webhook_id` and `subject` of the rows it is queued for:
 * one job per subscription and subject, which keeps the subject's events in order.
 */
const JOB_PAYLOAD = Prisma.raw(`json_build_object('webhookId', webhook_id, 'subject', subject)`)
const JOB_KEY = Prisma.raw(`'webhook:' || webhook_id || ':' || subject`)
/**
 * Queues the delivery job, as an SQL expression over `webhook_id` and `subject` (see JOB_KEY); a job already waiting
 * for the subject (a retry at its time) keeps its time.
 */
export const QUEUE_DELIVERY = Prisma.sql`graphile_worker.add_job(${DELIVER_TASK}, ${JOB_PAYLOAD},
  job_key => ${JOB_KEY}, job_key_mode => 'preserve_run_at', max_attempts => 25)::text`
/**
 * The job that queues the delivery jobs of the deliveries written since it last ran (see the webhook dispatch
 * migrations): queued while DISPATCH_PENDING answers true.
 */
export const DISPATCH_TASK = 'webhooks.dispatch'
/** Whether deliveries wait for their job (the partial index on unqueued deliveries answers it). */
export const DISPATCH_PENDING = 'SELECT EXISTS (SELECT FROM webhook_deliveries WHERE NOT queued) AS pending'
/** How often each instance that runs jobs asks DISPATCH_PENDING: the most an event waits before its job is queued. */
export const DISPATCH_POLL_MS = 250
/** Deliveries marked queued per transaction of the dispatch. */
const DISPATCH_BATCH = 1000
/** Longest wait for a target's answer. */
export const DELIVERY_TIMEOUT_MS = 10_000
/** How long a job's claim on the delivery it sends lasts: past the answer's timeout, with room to record it. */
const CLAIM_SECONDS = 60

/** WEBHOOK_RETRY_SCHEDULE as milliseconds: `5s,5m,30m` → [5000, 300000, 1800000]. */
export function parseRetrySchedule(text: string): number[] {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  return text.split(',').map((part) => {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(part.trim())
    if (!match) throw new Error(`not a pause: ${part}`)
    return Number(match[1]) * (unit[match[2] ?? 's'] ?? 1000)
  })
}

/** Seconds or an HTTP date, as Retry-After gives them, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** What one attempt came to: the target's status (2xx delivered), or no answer at all (`error`). */
interface Outcome {
  status?: number
  error?: string
  retryAfterMs?: number | undefined
  durationMs: number
}

interface Pending {
  event_id: string
  attempts: number
  next_attempt_at: Date
  topic: string
  body: unknown
  url: string
  secret: string
  enabled: boolean
}

/**
 * At-least-once delivery of webhook events (Standard Webhooks): each attempt is a POST of the Genesys-style envelope
 * `{topicName, version, eventBody, metadata: {CorrelationId}}`, signed (`webhook-id` = the event id, the same on every
 * retry; `webhook-timestamp`; `webhook-signature` v1 HMAC-SHA256). A 2xx delivers; a 410 disables the subscription;
 * anything else (another status, a timeout, a refused connection or target) is retried after the next pause of the
 * schedule (or Retry-After, when later), jittered, and fails once the schedule is spent. The events of one subject go
 * out one at a time in the order they happened: a later one waits while an earlier one is retried.
 */
export function createWebhookDelivery({ prisma, allowPrivate, schedule, timeoutMs = DELIVERY_TIMEOUT_MS }: {
  prisma: PrismaClient
  allowPrivate: boolean
  /** Pauses before each retry, in ms. */
  schedule: number[]
  timeoutMs?: number
}) {
  /** Runs the job of `subject` again at `runAt` (the same key: pending and later events wait for it). */
  async function requeue(webhookId: string, subject: string, runAt: Date): Promise<void> {
    await prisma.$queryRaw`SELECT graphile_worker.add_job(${DELIVER_TASK}, ${JOB_PAYLOAD},
        run_at => ${runAt}::timestamptz, max_attempts => 25, job_key => ${JOB_KEY}, job_key_mode => 'replace')::text
      FROM (SELECT ${webhookId}::text AS webhook_id, ${subject}::text AS subject) t`
  }

  async function attempt(pending: Pending): Promise<Outcome> {
    const started = performance.now()
    const elapsed = () => Math.round(performance.now() - started)
    const target = await resolveTarget(pending.url, { allowPrivate }).catch((error: unknown) => error instanceof Error ? error : new Error(String(error)))
    if (target instanceof Error) return { error: target.message, durationMs: elapsed() }
    const body = JSON.stringify({ topicName: pending.topic, version: '2', eventBody: pending.body, metadata: { CorrelationId: pending.event_id } })
    const timestamp = new Date()
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'recording-store-webhooks',
      'webhook-id': pending.event_id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': new Signer(pending.secret).sign(pending.event_id, timestamp, body),
    }
    // Connect to the address that was checked, not to whatever the name resolves to a moment later.
    const lookup: LookupFunction = (_host, options, callback) => {
      if (options.all) callback(null, [{ address: target.address, family: target.family }])
      else callback(null, target.address, target.family)
    }
    const send = target.url.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise<Outcome>((resolve) => {
      const req = send(target.url, { method: 'POST', headers, lookup, timeout: timeoutMs }, (res: IncomingMessage) => {
        // What the target says is not kept: only that it answered, and how.
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfterMs: retryAfterMs(res.headers['retry-after']), durationMs: elapsed() }))
        res.on('error', (error) => resolve({ error: error.message, durationMs: elapsed() }))
      })
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
      req.on('error', (error) => resolve({ error: error.message, durationMs: elapsed() }))
      req.end(body)
    })
  }

  return {
    /**
     * Delivers the pending events of `subject` to the subscription, oldest first, until one fails (it is retried
     * later, by this job run again) or none is left. Subjects are delivered in parallel; within one, a claim on the
     * delivery being sent keeps a second job from sending the next before it.
     */
    async deliver(webhookId: string, subject: string): Promise<{ delivered: number; failed: number }> {
      const done = { delivered: 0, failed: 0 }
      for (;;) {
        // The oldest pending delivery of the subject, claimed: unclaimed, or its claim run out (its sender died). None:
        // nothing left, or another job is sending it (and carries on with the rest).
        const [pending] = await prisma.$queryRaw<Pending[]>`
          UPDATE webhook_deliveries d SET claimed_until = now() + make_interval(secs => ${CLAIM_SECONDS})
          FROM webhook_events e, webhooks w
          WHERE d.webhook_id = ${webhookId}::uuid AND d.subject = ${subject} AND d.state = 'PENDING'
            AND d.seq = (SELECT min(x.seq) FROM webhook_deliveries x WHERE x.webhook_id = d.webhook_id AND x.subject = d.subject AND x.state = 'PENDING')
            AND (d.claimed_until IS NULL OR d.claimed_until < now())
            AND e.id = d.event_id AND w.id = d.webhook_id
          RETURNING d.event_id, d.attempts, d.next_attempt_at, e.topic, e.body, w.url, w.secret, w.enabled`
        if (!pending) return done
        const release = () => prisma.$executeRaw`UPDATE webhook_deliveries SET claimed_until = NULL
          WHERE webhook_id = ${webhookId}::uuid AND event_id = ${pending.event_id}::uuid`
        if (!pending.enabled) {
          await prisma.$executeRaw`UPDATE webhook_deliveries SET state = 'FAILED', claimed_until = NULL, last_error = 'the subscription is disabled'
            WHERE webhook_id = ${webhookId}::uuid AND subject = ${subject} AND state = 'PENDING'`
          return done
        }
        if (pending.next_attempt_at.getTime() > Date.now()) {
          await release()
          await requeue(webhookId, subject, pending.next_attempt_at)
          return done
        }
        const outcome = await attempt(pending)
        const attempts = pending.attempts + 1
        const status = outcome.status ?? null
        const error = outcome.error?.slice(0, 500) ?? null
        if (outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300) {
          await prisma.$executeRaw`UPDATE webhook_deliveries SET state = 'DELIVERED', claimed_until = NULL, attempts = ${attempts}, last_attempt_at = now(),
              last_status = ${status}, last_error = NULL, last_duration_ms = ${outcome.durationMs}, delivered_at = now()
            WHERE webhook_id = ${webhookId}::uuid AND event_id = ${pending.event_id}::uuid AND state = 'PENDING'`
          done.delivered += 1
          continue
        }
        if (outcome.status === 410) {
          // Gone: the target wants no more. The subscription is disabled, and what waits for it fails.
          await prisma.$transaction([
            prisma.$executeRaw`UPDATE webhooks SET enabled = false, updated_at = now(),
                disabled_reason = ${`the target answered 410 Gone on ${new Date().toISOString()}`} WHERE id = ${webhookId}::uuid`,
            prisma.$executeRaw`UPDATE webhook_deliveries SET state = 'FAILED', claimed_until = NULL, attempts = ${attempts}, last_attempt_at = now(),
                last_status = 410, last_duration_ms = ${outcome.durationMs} WHERE webhook_id = ${webhookId}::uuid AND event_id = ${pending.event_id}::uuid`,
            prisma.$executeRaw`UPDATE webhook_deliveries SET state = 'FAILED', last_error = 'the subscription is disabled'
              WHERE webhook_id = ${webhookId}::uuid AND state = 'PENDING'`,
          ])
          done.failed += 1
          return done
        }
        const pause = schedule[attempts - 1]
        if (pause === undefined) {
          // The schedule is spent: this one fails, and the next event of the subject goes.
          await prisma.$executeRaw`UPDATE webhook_deliveries SET state = 'FAILED', claimed_until = NULL, attempts = ${attempts}, last_attempt_at = now(),
              last_status = ${status}, last_error = ${error}, last_duration_ms = ${outcome.durationMs}
            WHERE webhook_id = ${webhookId}::uuid AND event_id = ${pending.event_id}::uuid AND state = 'PENDING'`
          done.failed += 1
          continue
        }
        // ±10% jitter, so that many failing deliveries do not retry in step; never sooner than Retry-After asks.
        const wait = Math.max(pause * (0.9 + Math.random() * 0.2), outcome.retryAfterMs ?? 0)
        const next = new Date(Date.now() + wait)
        await prisma.$executeRaw`UPDATE webhook_deliveries SET claimed_until = NULL, attempts = ${attempts}, last_attempt_at = now(), last_status = ${status},
            last_error = ${error}, last_duration_ms = ${outcome.durationMs}, next_attempt_at = ${next}
          WHERE webhook_id = ${webhookId}::uuid AND event_id = ${pending.event_id}::uuid AND state = 'PENDING'`
        await requeue(webhookId, subject, next)
        return done
      }
    },
  }
}

export type WebhookDelivery = ReturnType<typeof createWebhookDelivery>

/**
 * Queues one delivery job per subscription and subject of the deliveries not queued yet, oldest first, and marks them
 * queued in the same transaction (several dispatches at once take different rows). A job already waiting for the
 * subject (a retry at its time) keeps its time: the new event goes after the one being retried. Answers how many
 * deliveries it queued.
 */
export async function dispatchDeliveries(prisma: PrismaClient): Promise<number> {
  let total = 0
  for (;;) {
    const marked = await prisma.$transaction(async (tx) => {
      const subjects = await tx.$queryRaw<{ webhook_id: string; subject: string; n: number }[]>`
        WITH taken AS (
          SELECT webhook_id, event_id FROM webhook_deliveries WHERE NOT queued ORDER BY seq LIMIT ${DISPATCH_BATCH} FOR UPDATE SKIP LOCKED),
        marked AS (
          UPDATE webhook_deliveries d SET queued = true FROM taken t WHERE d.webhook_id = t.webhook_id AND d.event_id = t.event_id
          RETURNING d.webhook_id, d.subject)
        SELECT webhook_id::text, subject, count(*)::int AS n FROM marked GROUP BY webhook_id, subject`
      if (subjects.length > 0) {
        await tx.$queryRaw`SELECT count(*)::int FROM graphile_worker.add_jobs(ARRAY(
          SELECT ROW(${DELIVER_TASK}, ${JOB_PAYLOAD}, NULL, NULL, 25, ${JOB_KEY}, NULL, NULL)::graphile_worker.job_spec
          FROM unnest(${subjects.map((row) => row.webhook_id)}::text[], ${subjects.map((row) => row.subject)}::text[]) AS t(webhook_id, subject)), true)`
      }
      return subjects.reduce((sum, row) => sum + row.n, 0)
    })
    total += marked
    if (marked < DISPATCH_BATCH) return total
  }
}

/** How long delivered and failed events are kept (for the deliveries listing and redelivery). */
export const EVENT_RETENTION_DAYS = 7

/** Removes events older than EVENT_RETENTION_DAYS with nothing left to deliver (their deliveries go with them). */
export async function removeOldEvents(prisma: PrismaClient): Promise<number> {
  return prisma.$executeRaw`DELETE FROM webhook_events e WHERE e.created_at < now() - make_interval(days => ${EVENT_RETENTION_DAYS}::int)
    AND NOT EXISTS (SELECT FROM webhook_deliveries d WHERE d.event_id = e.id AND d.state = 'PENDING')`
}
