import fp from 'fastify-plugin'
import pg from 'pg'
import { parseCronItems, run, type CronItem, type CronItemOptions, type Runner, type TaskList } from 'graphile-worker'
import { jobLogger } from '../db/job-queue.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Background work, on graphile-worker in the service's own database. */
    jobs: Jobs
  }
}

export interface Jobs {
  /**
   * The handler of the jobs named `task`; registered before the app is ready. A handler that throws is retried, up
   * to the job's attempts (`lastAttempt` on the final one).
   */
  define(task: string, handler: (payload: unknown, job: { lastAttempt: boolean }) => Promise<void>): void
  /**
   * Queues `task` on a cron schedule (UTC, five fields): once per due time, whichever instance takes it. With `jobKey`,
   * under that key (graphile-worker job keys: one queued job per key); `priority`: lower runs first.
   */
  schedule(task: string, match: string, options?: Pick<CronItemOptions, 'jobKey' | 'jobKeyMode' | 'priority'>): void
  /**
   * Queues `task` (job key: its name, so one waits at a time) when the database channel `channel` is notified: at
   * once, then at most once per `throttleMs` while notifications keep coming, and each time listening (re)starts, for
   * the notifications missed meanwhile. Every instance listens, whether or not it runs jobs.
   */
  queueOnNotify(channel: string, task: string, throttleMs: number): void
}

export interface JobsOptions {
  databaseUrl: string
  /** Longest wait for a connection (DATABASE_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs: number
  /** Jobs run at once by this instance; 0 runs none (they wait in the queue for an instance that runs them). */
  concurrency: number
}

/**
 * graphile-worker, started when the app is ready and stopped when it closes. Several instances on one database share
 * the queue: a job is locked by the one that takes it, retried with backoff when it fails, and taken again when the
 * instance holding it died; each cron time is queued once. Jobs are queued by SQL in the transactions whose changes
 * call for them (see the media_removal_jobs migration), so the work and its cause commit together.
 */
export default fp<JobsOptions>(
  async (app, { databaseUrl, connectTimeoutMs, concurrency }) => {
    const taskList: TaskList = {}
    const cron: CronItem[] = []
    let runner: Runner | undefined
    let started = false

    const logger = jobLogger(app.log)
    let retry: NodeJS.Timeout | undefined
    let closing = false

    /** What a notification on each channel does: queue its task, one add_job at a time, the next no sooner than the throttle allows. */
    const notified = new Map<string, () => void>()
    const queueing = (task: string, throttleMs: number) => {
      let busy = false
      let again = false
      const queue = () => {
        if (busy || closing) {
          again = true
          return
        }
        busy = true
        again = false
        pool.query('SELECT graphile_worker.add_job($1, job_key => $1, max_attempts => 25)', [task])
          .catch((error: unknown) => app.log.warn({ component: 'jobs', err: error, task }, 'job not queued on notification'))
          .finally(() => setTimeout(() => {
            busy = false
            if (again) queue()
          }, throttleMs).unref())
      }
      return queue
    }
    let listener: pg.Client | undefined
    let relisten: NodeJS.Timeout | undefined

    app.decorate('jobs', {
      define(task, handler) {
        if (started) throw new Error(`job task ${task} defined after the job runner started`)
        taskList[task] = (payload, helpers) => handler(payload, { lastAttempt: helpers.job.attempts >= helpers.job.max_attempts })
      },
      schedule(task, match, options) {
        if (started) throw new Error(`job schedule of ${task} set after the job runner started`)
        // No backfill: a missed reconciliation is simply the next one.
        cron.push({ task, match, identifier: task, options: { backfillPeriod: 0, ...options } })
      },
      queueOnNotify(channel, task, throttleMs) {
        if (started) throw new Error(`job notification of ${task} set after the job runner started`)
        if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a plain channel name: ${channel}`)
        notified.set(channel, queueing(task, throttleMs))
      },
    } satisfies Jobs)

    // The runner's own connections, which give up on an unreachable database as the service's do.
    const pool = new pg.Pool({ connectionString: databaseUrl, max: concurrency + 3, connectionTimeoutMillis: connectTimeoutMs })
    pool.on('error', (error) => app.log.warn({ component: 'jobs', err: error }, 'job runner connection lost'))
    // A connection in use whose server goes away errors on the client itself, not the pool.
    pool.on('connect', (client) => client.on('error', (error) => app.log.warn({ component: 'jobs', err: error }, 'job runner connection lost')))
    let starting: Promise<void> | undefined

    /** Starts the runner; while the database cannot be reached, tries again with growing pauses (up to a minute). */
    async function start(attempt: number): Promise<void> {
      try {
        const started = await run({ pgPool: pool, logger, noHandleSignals: true, concurrency, taskList, parsedCronItems: parseCronItems(cron) })
        if (closing) await started.stop()
        else runner = started
      } catch (error) {
        if (closing) return
        const seconds = Math.min(60, 2 ** attempt)
        app.log.warn({ component: 'jobs', err: error, retryInSeconds: seconds }, 'job runner could not start')
        retry = setTimeout(() => {
          starting = start(attempt + 1)
        }, seconds * 1000).unref()
      }
    }

    /**
     * LISTENs on the channels. A connection that fails is made again after a pause that grows with each failure in a
     * row (up to a minute); once listening, the notifications missed are made up for by queueing every task once.
     */
    async function listen(failures: number): Promise<void> {
      const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: connectTimeoutMs })
      let lost = false
      const retryLater = (error: unknown) => {
        if (lost) return
        lost = true
        const after = listener === client ? 0 : failures
        if (listener === client) listener = undefined
        client.removeAllListeners('notification')
        client.end().catch(() => undefined)
        if (closing) return
        const seconds = Math.min(60, 2 ** after)
        app.log.warn({ component: 'jobs', err: error, retryInSeconds: seconds }, 'job notifications not listened to')
        relisten = setTimeout(() => void listen(after + 1), seconds * 1000).unref()
      }
      client.on('error', retryLater)
      client.on('notification', (message) => notified.get(message.channel)?.())
      try {
        await client.connect()
        for (const channel of notified.keys()) await client.query(`LISTEN ${channel}`)
      } catch (error) {
        retryLater(error)
        return
      }
      if (closing) {
        await client.end().catch(() => undefined)
        return
      }
      listener = client
      for (const queue of notified.values()) queue()
    }

    // In the background: the service serves (and answers 503) while its database is away, and the runner follows once
    // it is back. The queue's schema is installed with the migrations; readiness waits for it.
    app.addHook('onReady', async () => {
      started = true
      if (concurrency > 0) starting = start(0)
      if (notified.size > 0) void listen(0)
    })

    // Running jobs finish first; one cut short by a crash is taken again once its lock expires.
    app.addHook('onClose', async () => {
      closing = true
      clearTimeout(retry)
      clearTimeout(relisten)
      await listener?.end().catch(() => undefined)
      await starting
      await runner?.stop()
      await pool.end()
    })
  },
  { name: 'jobs' },
)
