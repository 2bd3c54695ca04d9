import { expect, inject } from 'vitest'
import pg from 'pg'
import { buildApp, type App } from '../src/app.js'
import { shippedMigrations } from '../src/db/migrations.js'
import type { ErrorBody } from '../src/schemas/error-body.js'
import type { Recording } from '../src/schemas/recording.js'
import { createTestDatabase } from './database.js'

export interface TestContext {
  app: App
  databaseUrl: string
  /** Direct SQL on the test database, for arranging and for checking what was (not) stored. */
  sql: pg.Pool
  close(): Promise<void>
}

/** An app over a fresh database of its own, built exactly as the server builds it. */
export async function createTestContext(): Promise<TestContext> {
  const databaseUrl = await createTestDatabase(inject('testDatabase'))
  const app = await buildApp({ databaseUrl, migrations: await shippedMigrations() })
  await app.ready()
  const sql = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  return {
    app,
    databaseUrl,
    sql,
    async close() {
      await app.close()
      await sql.end()
    },
  }
}

export const recordingsUrl = (conversationId: string) => `/api/v2/conversations/${conversationId}/recordings`

/** Ingests a recording through the API and returns what the store answered. */
export async function ingest(app: App, conversationId: string, body: object): Promise<Recording> {
  const res = await app.inject({ method: 'POST', url: recordingsUrl(conversationId), payload: body })
  if (res.statusCode !== 201) throw new Error(`ingest failed: ${res.statusCode} ${res.body}`)
  return res.json<Recording>()
}

/** Counts rows of every table that holds recording data, to prove what a request stored or left alone. */
export async function rowCounts(sql: pg.Pool): Promise<Record<string, number>> {
  const tables = ['recordings', 'annotations', 'chat_messages', 'email_messages', 'messaging_messages', 'media_results', 'recording_users']
  const { rows } = await sql.query<{ t: string; n: string }>(
    tables.map((table) => `SELECT '${table}' AS t, count(*) AS n FROM ${table}`).join(' UNION ALL '),
  )
  return Object.fromEntries(rows.map((row) => [row.t, Number(row.n)]))
}

/** Asserts the shape every error answer must have (ErrorBody + RFC 9457 members, no internals) and returns it. */
export function expectErrorBody(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number): ErrorBody {
  expect(res.statusCode, res.body).toBe(status)
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/)
  const body = JSON.parse(res.body) as ErrorBody
  expect(body).toMatchObject({
    message: expect.any(String),
    code: expect.stringMatching(/^[a-z]+(\.[a-z]+)*$/),
    status,
    contextId: expect.any(String),
    type: expect.stringMatching(/^urn:recording-store:problem:/),
    title: expect.any(String),
    detail: body.message,
    details: expect.any(Array),
    errors: [],
  })
  expect(res.headers['inin-correlation-id']).toBe(body.contextId)
  expect(res.body).not.toMatch(/\bat .+\.(js|ts):\d+|prisma|SELECT |INSERT /i)
  return body
}
