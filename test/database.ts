import { randomBytes } from 'node:crypto'
import pg from 'pg'

export const TEST_DB_PREFIX = 'rs_test_'

export interface TestDatabase {
  /** Any database URL of the server; only its credentials, host and port are used. */
  serverUrl: string
  template: string
  prefix: string
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

/** Runs `fn` with a connection to the server's maintenance database (`postgres`). */
export async function withAdminClient<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl(serverUrl, 'postgres') })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** A fresh, migrated database of its own (a clone of the run's template); returns its URL. */
export async function createTestDatabase(testDatabase: TestDatabase): Promise<string> {
  const name = `${testDatabase.prefix}${randomBytes(4).toString('hex')}`
  await withAdminClient(testDatabase.serverUrl, (client) =>
    client.query(`CREATE DATABASE "${name}" TEMPLATE "${testDatabase.template}"`),
  )
  return databaseUrl(testDatabase.serverUrl, name)
}
