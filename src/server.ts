import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded-postgres.js'
import { applyMigrations, shippedMigrations } from './db/migrations.js'

const started = performance.now()

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

let embedded: EmbeddedDatabase | undefined
try {
  if (!config.DATABASE_URL) {
    embedded = await startEmbeddedPostgres({ dataDir: config.DATA_DIR, port: config.EMBEDDED_POSTGRES_PORT, logger })
  }
  const databaseUrl = config.DATABASE_URL ?? (embedded as EmbeddedDatabase).url
  if (config.MIGRATE_ON_START) await applyMigrations(databaseUrl, logger)

  const app = await buildApp({
    databaseUrl,
    databasePoolSize: config.DATABASE_POOL_SIZE,
    migrations: await shippedMigrations(),
    logger,
  })

  // SIGTERM/SIGINT: stop accepting, let in-flight requests finish, close the pool, then stop the embedded
  // database. Bounded, because a stuck connection must not keep the process alive forever.
  closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an unexpected error')
    else logger.info({ signal }, 'shutting down')
    await app.close()
    await embedded?.stop()
  })

  await app.listen({ port: config.PORT, host: config.HOST })
  logger.info(
    { startupMs: Math.round(performance.now() - started), docs: `/docs`, database: embedded ? 'embedded' : 'DATABASE_URL' },
    'recording-store ready',
  )
} catch (error) {
  logger.fatal({ err: error }, 'start-up failed')
  await embedded?.stop().catch(() => undefined)
  process.exitCode = 1
  logger.flush()
}
