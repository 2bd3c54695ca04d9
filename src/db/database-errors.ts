/**
 * Whether an error means the database could not be used right now (unreachable, restarting, out of connections,
 * or a statement that ran out of time), as opposed to a bug or a bad request. Such a request may succeed when
 * retried, so it is answered 503 with Retry-After instead of 500.
 *
 * The same outage reaches us in several shapes (seen by stopping, killing and freezing PostgreSQL under load):
 * - PrismaClientKnownRequestError with a Prisma code (P1001 can't reach, P2037 too many connections) or P2010 with
 *   the driver adapter's error under `meta.driverAdapterError.cause` (`kind` DatabaseNotReachable, ConnectionClosed,
 *   TooManyConnections, or `originalCode` 57P01/57P03, ...);
 * - a bare DriverAdapterError (transactions), its `cause` shaped the same way;
 * - node-postgres' own plain Errors, which the adapter passes through unconverted ("timeout exceeded when trying to
 *   connect" from the pool, "Connection terminated unexpectedly"), and Node's socket errors (ECONNREFUSED, ...).
 */
export type DatabaseFailure = 'database.unavailable' | 'database.timeout'

const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2037'])
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections'])
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])
/** SQLSTATE 08xxx connection exception, admin/crash shutdown, cannot connect now, too many connections. */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123]|53300)$/
/** query_canceled: what statement_timeout raises. */
const TIMEOUT_SQLSTATE = '57014'
const PG_MESSAGES = [
  /^timeout exceeded when trying to connect$/,
  /^Connection terminated/,
  /^Client has encountered a connection error and is not queryable$/,
  /^Client was closed and is not queryable$/,
  /^Query read timeout$/,
]
/** P2028 is also a transaction used after it ended (a bug); only a transaction that found no connection is an outage. */
const NO_CONNECTION_FOR_TRANSACTION = /Unable to start a transaction in the given time/

export function databaseFailure(error: unknown): DatabaseFailure | undefined {
  let timeout = false
  const seen = new Set<unknown>()
  const queue: unknown[] = [error]
  while (queue.length > 0 && seen.size < 8) {
    const item = queue.shift()
    if (typeof item !== 'object' || item === null || seen.has(item)) continue
    seen.add(item)
    const { code, errorCode, originalCode, kind, message, cause, meta } = item as Record<string, unknown>
    for (const value of [code, errorCode, originalCode]) {
      if (typeof value !== 'string') continue
      if (PRISMA_CODES.has(value) || SOCKET_CODES.has(value) || UNAVAILABLE_SQLSTATE.test(value)) return 'database.unavailable'
      if (value === TIMEOUT_SQLSTATE) timeout = true
      if (value === 'P2028' && typeof message === 'string' && NO_CONNECTION_FOR_TRANSACTION.test(message)) return 'database.unavailable'
    }
    if (typeof kind === 'string' && ADAPTER_KINDS.has(kind)) return 'database.unavailable'
    if (typeof message === 'string' && PG_MESSAGES.some((pattern) => pattern.test(message))) return 'database.unavailable'
    queue.push(cause, (meta as Record<string, unknown> | undefined)?.driverAdapterError)
  }
  return timeout ? 'database.timeout' : undefined
}
