import { mkdtemp, chmod, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { pino } from 'pino'
import type { TestProject } from 'vitest/node'
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/db/embedded-postgres.js'
import { applyMigrations } from '../src/db/migrations.js'
import { TEST_DB_PREFIX, withAdminClient, databaseUrl, type TestDatabase } from './database.js'

declare module 'vitest' {
  export interface ProvidedContext {
    testDatabase: TestDatabase
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Tests run against a real PostgreSQL: the one in DATABASE_URL, or else an embedded one in a temporary directory.
 * A template database is migrated once per run; each test file then works in its own clone of it.
 */
export default async function setup(project: TestProject) {
  const logger = pino({ level: 'warn' })
  let embedded: EmbeddedDatabase | undefined
  let tmpDir: string | undefined
  let serverUrl = process.env.DATABASE_URL
  if (!serverUrl) {
    tmpDir = await mkdtemp(path.join(os.tmpdir(), 'recording-store-test-'))
    await chmod(tmpDir, 0o755) // the embedded server runs as the `postgres` user when we are root
    embedded = await startEmbeddedPostgres({ dataDir: tmpDir, port: await freePort(), logger })
    serverUrl = embedded.url
  }

  const run = `${TEST_DB_PREFIX}${process.pid}_`
  const testDatabase: TestDatabase = { serverUrl, template: `${run}template`, prefix: run }
  await withAdminClient(serverUrl, async (client) => {
    // Leftovers of earlier runs that were killed; those of a run still going (its process alive) stay.
    const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${TEST_DB_PREFIX}%`])
    for (const { datname } of rows) {
      const owner = Number(/^rs_test_(\d+)_/.exec(datname)?.[1])
      if (owner && processAlive(owner)) continue
      await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`)
    }
    await client.query(`CREATE DATABASE "${testDatabase.template}"`)
  })
  await applyMigrations(databaseUrl(serverUrl, testDatabase.template), logger)
  project.provide('testDatabase', testDatabase)

  return async () => {
    await withAdminClient(serverUrl, async (client) => {
      const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${run}%`])
      for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`)
    })
    await embedded?.stop()
    if (tmpDir) await rm(tmpDir, { recursive: true, force: true })
  }
}

