import closeWithGrace from 'close-with-grace'
import v8 from 'node:v8'
import { pino } from 'pino'
import { buildApp, type App } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded-postgres.js'
import { applyMigrations, shippedMigrations } from './db/migrations.js'

const started = performance.now()

/**
 * With BOOTSTRAP_CLIENT_ID/SECRET, that client exists with every permission. Otherwise the first start on an empty
 * database creates one and logs its credentials once, so that Swagger UI and the SDK can be tried at once.
 */
async function ensureAClient(app: App, config: Config) {
  const { clients } = app.services
  if (config.BOOTSTRAP_CLIENT_ID && config.BOOTSTRAP_CLIENT_SECRET) {
    await clients.ensureBootstrapClient(config.BOOTSTRAP_CLIENT_ID, config.BOOTSTRAP_CLIENT_SECRET)
    app.log.info({ clientId: config.BOOTSTRAP_CLIENT_ID }, 'bootstrap client ready')
    return
  }
  const created = await clients.createFirstClient()
  if (created) {
    app.log.warn(
      { clientId: created.clientId, clientSecret: created.clientSecret, organization: created.organization },
      'first start: created an API client with every permission; its secret is shown only this once',
    )
  }
}

function createLogger(config: Config) {
  const pretty = config.LOG_PRETTY ?? process.stdout.isTTY
  return pino({
    level: config.LOG_LEVEL,
    redact: ['req.headers.authorization', 'req.headers.cookie'],
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  })
}

let config: Config
try {
  config = loadConfig()
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  console.error(error.message)
  process.exit(1)
}
const logger = createLogger(config)
// Under load V8 lets the heap grow to several times its live data before a full collection (measured: peak RSS ~270
// MB at 50 connections); a bounded growth keeps it near 190 MB for a few percent of throughput.
if (config.HEAP_GROWING_PERCENT > 0) v8.setFlagsFromString(`--heap-growing-percent=${config.HEAP_GROWING_PERCENT}`)

let embedded: EmbeddedDatabase | undefined
let app: App | undefined
let grace: ReturnType<typeof closeWithGrace> | undefined

/**
 * Under `npm start`, a terminal's Ctrl-C reaches the service twice: from the terminal, and again from npm, which
 * forwards SIGINT and SIGTERM to its script. The same request twice within moments is one request to stop; a later
 * one forces the exit, as close-with-grace does for every second signal.
 */
const REPEATED_SIGNAL_MS = 1_000
let stopRequestedAt: number | undefined
function onStopSignal(signal: NodeJS.Signals) {
  if (stopRequestedAt === undefined) {
    stopRequestedAt = performance.now()
    logger.info({ signal }, 'shutting down')
    // Before the server listens there is nothing to drain: start-up stops at its next step (see `checkpoint`).
    void grace?.close()
  } else if (performance.now() - stopRequestedAt > REPEATED_SIGNAL_MS) {
    logger.error({ signal }, 'second signal: exiting without waiting for requests to finish')
    process.exit(1)
  }
}
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const
// From the first moment: a signal during start-up must still stop the embedded PostgreSQL it may have started.
for (const signal of STOP_SIGNALS) process.on(signal, onStopSignal)

class StoppedDuringStart extends Error {}
/** Between the steps of start-up: gives up, cleanly, once a stop was asked for. */
function checkpoint() {
  if (stopRequestedAt !== undefined) throw new StoppedDuringStart('stopped by a signal during start-up')
}

try {
  if (!config.DATABASE_URL) {
    embedded = await startEmbeddedPostgres({ dataDir: config.DATA_DIR, port: config.EMBEDDED_POSTGRES_PORT, logger })
  }
  checkpoint()
  const databaseUrl = config.DATABASE_URL ?? (embedded as EmbeddedDatabase).url
  if (config.MIGRATE_ON_START) await applyMigrations(databaseUrl, logger)
  checkpoint()

  app = await buildApp({ config, databaseUrl, migrations: await shippedMigrations(), logger })
  await ensureAClient(app, config)
  checkpoint()
  const search = await app.services.search.useLanguage(config.SEARCH_LANGUAGE)
  if (search.changed) logger.warn({ language: config.SEARCH_LANGUAGE, rebuilt: search.rebuilt }, 'full-text search language changed; documents rebuilt')

  // SIGTERM/SIGINT: stop accepting, let in-flight requests finish, close the pool, then stop the embedded
  // database. Bounded, because a stuck connection must not keep the process alive forever.
  const running = app
  grace = closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS, logger, skip: [...STOP_SIGNALS] }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an unexpected error')
    else if (signal) logger.info({ signal }, 'shutting down')
    await running.close()
    await embedded?.stop()
  })
  checkpoint()

  await app.listen({ port: config.PORT, host: config.HOST })
  logger.info(
    { startupMs: Math.round(performance.now() - started), docs: `/docs`, database: embedded ? 'embedded' : 'DATABASE_URL' },
    'recording-store ready',
  )
} catch (error) {
  const stopped = error instanceof StoppedDuringStart
  if (stopped) logger.info('stopped during start-up')
  else logger.fatal({ err: error }, 'start-up failed')
  // close-with-grace would end the process with 0 once the event loop empties; the failure's exit code must stand.
  grace?.uninstall()
  for (const signal of STOP_SIGNALS) process.removeListener(signal, onStopSignal)
  // Closed, not left to time out: its pool's idle connections would keep the process alive for another 10 s.
  await app?.close().catch(() => undefined)
  await embedded?.stop().catch(() => undefined)
  process.exitCode = stopped ? 0 : 1
  logger.flush()
}
