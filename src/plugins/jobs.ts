import fp from 'fastify-plugin'
import { Logger, parseCronItems, run, runMigrations, type CronItem, type Runner, type TaskList } from 'graphile-worker'

declare module 'fastify' {
  interface FastifyInstance {
    /** Background work, on graphile-worker in the service's own database. */
    jobs: Jobs
  }
}

export interface Jobs {
  /** The handler of the jobs named `task`; registered before the app is ready. A handler that throws is retried. */
  define(task: string, handler: (payload: unknown) => Promise<void>): void
  /** Queues `task` on a cron schedule (UTC, five fields): once per due time, whichever instance takes it. */
  schedule(task: string, match: string): void
}

export interface JobsOptions {
  databaseUrl: string
  /** Jobs run at once by this instance; 0 runs none (the schema is still installed, so jobs can be queued). */
  concurrency: number
}

/**
 * graphile-worker, started when the app is ready and stopped when it closes. Several instances on one database share
 * the queue: a job is locked by the one that takes it, retried with backoff when it fails, and taken again when the
 * instance holding it died; each cron time is queued once. Jobs are queued by SQL in the transactions whose changes
 * call for them (see the media_removal_jobs migration), so the work and its cause commit together.
 */
export default fp<JobsOptions>(
  async (app, { databaseUrl, concurrency }) => {
    const taskList: TaskList = {}
    const cron: CronItem[] = []
    let runner: Runner | undefined
    let started = false

    const log = app.log.child({ component: 'jobs' })
    const logger = new Logger((scope) => (level, message, meta) => {
      const fields = { ...scope, ...meta }
      if (level === 'error') log.error(fields, message)
      else if (level === 'warning') log.warn(fields, message)
      else if (level === 'info') log.info(fields, message)
      else log.debug(fields, message)
    })

    app.decorate('jobs', {
      define(task, handler) {
        if (started) throw new Error(`job task ${task} defined after the job runner started`)
        taskList[task] = (payload) => handler(payload)
      },
      schedule(task, match) {
        if (started) throw new Error(`job schedule of ${task} set after the job runner started`)
        // No backfill: a missed reconciliation is simply the next one.
        cron.push({ task, match, identifier: task, options: { backfillPeriod: 0 } })
      },
    } satisfies Jobs)

    app.addHook('onReady', async () => {
      started = true
      const options = { connectionString: databaseUrl, logger, noHandleSignals: true }
      if (concurrency === 0) {
        await runMigrations(options)
        return
      }
      runner = await run({ ...options, concurrency, maxPoolSize: concurrency + 2, taskList, parsedCronItems: parseCronItems(cron) })
    })

    // Running jobs finish first; one cut short by a crash is taken again once its lock expires.
    app.addHook('onClose', async () => {
      await runner?.stop()
    })
  },
  { name: 'jobs' },
)
