import { Logger, runMigrations } from 'graphile-worker'
import type { Logger as Pino } from 'pino'
import type { FastifyBaseLogger } from 'fastify'

/** graphile-worker's log lines, into the service's log. */
export function jobLogger(log: Pino | FastifyBaseLogger): Logger {
  return new Logger((scope) => (level, message, meta) => {
    const fields = { component: 'jobs', ...scope, ...meta }
    if (level === 'error') log.error(fields, message)
    else if (level === 'warning') log.warn(fields, message)
    else if (level === 'info') log.info(fields, message)
    else log.debug(fields, message)
  })
}

/** The schema that holds the job queue (graphile-worker's own migrations, idempotent and safe to run concurrently). */
export const JOB_QUEUE_SCHEMA = 'graphile_worker'

/**
 * Installs or upgrades the job queue's schema. It belongs with the database migrations: triggers of the service's own
 * schema queue jobs into it, so it must exist before the service serves.
 */
export async function installJobQueue(databaseUrl: string, log: Pino | FastifyBaseLogger): Promise<void> {
  await runMigrations({ connectionString: databaseUrl, logger: jobLogger(log) })
}
