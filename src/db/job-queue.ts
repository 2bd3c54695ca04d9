import { Logger, runMigrations } from 'graphile-worker'
import { RETRYABLE_ERROR_CODES } from 'graphile-worker/dist/lib.js'
import type { Logger as Pino } from 'pino'
import type { FastifyBaseLogger } from 'fastify'

// graphile-worker retries its own bookkeeping (marking jobs done or failed) only on a few error codes; a database that
// refuses or drops connections (a restart, an outage) is not among them. The runner does not await the marking of a
// failed job, so such an error became an unhandled rejection, which ends a Node process. They are as transient as
// the codes it retries: it now waits for the database as it does for those.
for (const code of ['ECONNREFUSED', 'ECONNRESET', '57P01', '57P02', '08001', '08006']) {
  RETRYABLE_ERROR_CODES[code] ??= { minDelay: 1000, maxDelay: 30_000 }
}

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

/**
 * Installs or upgrades the job queue's schema. It belongs with the database migrations: triggers of the service's own
 * schema queue jobs into it, so it must exist before the service serves.
 */
export async function installJobQueue(databaseUrl: string, log: Pino | FastifyBaseLogger): Promise<void> {
  await runMigrations({ connectionString: databaseUrl, logger: jobLogger(log) })
}
