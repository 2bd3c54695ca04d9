// The bench's database: its own database on the server of DATABASE_URL, or an embedded PostgreSQL in a temporary
// directory when DATABASE_URL is unset. Migrated with the project's own migration runner (dist/ must be built).
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { pino, type Logger } from 'pino'

export const ROOT = path.resolve(import.meta.dirname, '..', '..')

/** Imports a module of the built service (dist/), typed by the caller: the bench is compiled apart from src/. */
export const fromDist = async <T>(file: string): Promise<T> => (await import(pathToFileURL(path.join(ROOT, 'dist', file)).href)) as T

type Migrations = { applyMigrations(url: string, logger: Logger): Promise<void> }
type Embedded = {
  startEmbeddedPostgres(options: { dataDir: string; port: number; logger: Logger }): Promise<{ url: string; stop(): Promise<void> }>
}

export interface BenchDatabase {
  url: string
  /** Where it runs, for the report (no credentials). */
  where: string
  /** True when it already holds a complete dataset of the wanted size and seed version. */
  seeded: boolean
  /** Marks the dataset as complete, so that `--reuse` can pick it up next time. */
  markSeeded(): Promise<void>
  close(options: { drop: boolean }): Promise<void>
}

export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

async function admin<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/**
 * Opens the bench database. With DATABASE_URL, `name` is (re)created on that server, unless `reuse` is set and it
 * already holds a complete dataset with this `marker`; without it, an embedded server in a temporary directory.
 */
export async function openDatabase(options: { name: string; marker: string; reuse: boolean; log: (line: string) => void }): Promise<BenchDatabase> {
  const logger = pino({ level: 'warn' })
  const { name, marker, reuse, log } = options
  const serverUrl = process.env.DATABASE_URL
  const { applyMigrations } = await fromDist<Migrations>('db/migrations.js')

  if (!serverUrl) {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'recording-store-bench-'))
    await chmod(dataDir, 0o755) // started by root, the embedded server runs as the `postgres` user
    const port = await freePort()
    log(`database: embedded PostgreSQL in ${dataDir} (no DATABASE_URL)`)
    const { startEmbeddedPostgres } = await fromDist<Embedded>('db/embedded-postgres.js')
    const embedded = await startEmbeddedPostgres({ dataDir, port, logger })
    await applyMigrations(embedded.url, logger)
    return {
      url: embedded.url,
      where: `embedded PostgreSQL on 127.0.0.1:${port}`,
      seeded: false,
      async markSeeded() {},
      async close() {
        await embedded.stop()
        await rm(dataDir, { recursive: true, force: true })
      },
    }
  }

  const url = withDatabase(serverUrl, name)
  const { host } = new URL(serverUrl)
  const seeded = await admin(serverUrl, async (client) => {
    const { rows } = await client.query<{ marker: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS marker FROM pg_database WHERE datname = $1`,
      [name],
    )
    if (reuse && rows[0]?.marker === marker) return true
    if (rows.length > 0) log(`database: dropping ${name} on ${host}${reuse ? ` (it holds ${rows[0]?.marker ?? 'an incomplete dataset'})` : ''}`)
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await client.query(`CREATE DATABASE "${name}"`)
    return false
  })
  log(`database: ${name} on ${host}${seeded ? ' (reused)' : ''}`)
  await applyMigrations(url, logger)
  return {
    url,
    where: `${name} on ${host}`,
    seeded,
    async markSeeded() {
      await admin(serverUrl, (client) => client.query(`COMMENT ON DATABASE "${name}" IS '${marker.replace(/'/g, "''")}'`))
    },
    async close({ drop }) {
      if (drop) await admin(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
    },
  }
}
