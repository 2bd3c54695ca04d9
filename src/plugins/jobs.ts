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
   * Queues `task` (job key: its name, so one waits at a time) whenever `pendingSql` (a query answering one boolean
   * column) answers true, asked every `everyMs` by each instance that runs jobs. For work whose cause is written where
   * queueing a job in the writing transaction would cost it too much.
   */
  queueWhile(task: string, pendingSql: string, everyMs: number): void
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

    const polls: { task: string; pendingSql: string; everyMs: number }[] = []
    const pollTimers = new Set<NodeJS.Timeout>()

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
      queueWhile(task, pendingSql, everyMs) {
        if (started) throw new Error(`job poll of ${task} set after the job runner started`)
        polls.push({ task, pendingSql, everyMs })
      },
    } satisfies Jobs)

    // The runner's own connections, which give up on an unreachable database as the service's do.
    const pool = new pg.Pool({ connectionString: databaseUrl, max: concurrency + 2, connectionTimeoutMillis: connectTimeoutMs })
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

    /** Asks `pendingSql` every `everyMs`, and queues `task` when it answers true; a failure is logged once in a row. */
    function poll({ task, pendingSql, everyMs }: { task: string; pendingSql: string; everyMs: number }) {
      let failing = false
      const tick = async () => {
        try {
          const { rows } = await pool.query<{ pending: boolean }>(pendingSql)
          if (rows[0]?.pending) await pool.query('SELECT graphile_worker.add_job($1, job_key => $1, max_attempts => 25)', [task])
          if (failing) app.log.info({ component: 'jobs', task }, 'job poll works again')
          failing = false
        } catch (error) {
          if (closing) return
          if (!failing) app.log.warn({ component: 'jobs', err: error, task }, 'job poll failed; tried again')
          failing = true
        }
        if (closing) return
        const timer = setTimeout(() => {
          pollTimers.delete(timer)
          void tick()
        }, everyMs).unref()
        pollTimers.add(timer)
      }
      void tick()
    }

    // In the background: the service serves (and answers 503) while its database is away, and the runner follows once
    // it is back. The queue's schema is installed with the migrations; readiness waits for it.
    app.addHook('onReady', async () => {
      started = true
      if (concurrency > 0) {
        starting = start(0)
        for (const item of polls) poll(item)
      }
    })

    // Running jobs finish first; one cut short by a crash is taken again once its lock expires.
    app.addHook('onClose', async () => {
      closing = true
      clearTimeout(retry)
      for (const timer of pollTimers) clearTimeout(timer)
      await starting
      await runner?.stop()
      await pool.end()
    })
  },
  { name: 'jobs' },
)
