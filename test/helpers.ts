import { expect, inject } from 'vitest'
import pg from 'pg'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp, type App, type AppOptions } from '../src/app.js'
import { ALL_PERMISSIONS, type Permission } from '../src/auth/permissions.js'
import { loadConfig, type Config } from '../src/config.js'
import { shippedMigrations } from '../src/db/migrations.js'
import { DEFAULT_ORGANIZATION_ID } from '../src/services/organizations.js'
import type { ErrorBody } from '../src/schemas/error-body.js'
import type { Recording } from '../src/schemas/recording.js'
import { createTestDatabase } from './database.js'

export interface TestContext {
  app: App
  config: Config
  databaseUrl: string
  /** `app.inject` as a client of the default organization holding every permission. */
  inject(options: InjectOptions): Promise<LightMyRequestResponse>
  /** A bearer token of a client with these permissions in that organization. */
  token(permissions?: readonly Permission[], organizationId?: string): Promise<string>
  /** Direct SQL on the test database, for arranging and for checking what was (not) stored. */
  sql: pg.Pool
  close(): Promise<void>
}

/**
 * An app over a fresh database of its own (or `shared`'s, as a second instance), built exactly as the server builds it
 * (settings from `env`; `logger` to read its log). Without a DATA_DIR in `env`, uploaded media goes to a temporary
 * directory of its own, removed by `close()`.
 */
export async function createTestContext(
  env: Record<string, string> = {},
  shared?: { databaseUrl: string },
  { logger }: Pick<AppOptions, 'logger'> = {},
): Promise<TestContext> {
  const databaseUrl = shared?.databaseUrl ?? (await createTestDatabase(inject('testDatabase')))
  const ownDataDir = env.DATA_DIR === undefined ? await mkdtemp(path.join(tmpdir(), 'recording-store-test-')) : undefined
  const config = loadConfig({
    RATE_LIMIT_PER_MINUTE: '100000',
    TOKEN_RATE_LIMIT_PER_MINUTE: '100000',
    ...(ownDataDir ? { DATA_DIR: ownDataDir } : {}),
    ...env,
  })
  const app = await buildApp({ config, databaseUrl, migrations: await shippedMigrations(), logger })
  await app.ready()
  const sql = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  const token = (permissions: readonly Permission[] = ALL_PERMISSIONS, organizationId = DEFAULT_ORGANIZATION_ID) =>
    app.tokens.issue({ clientId: `test-${organizationId}-${permissions.length}`, name: 'test', organizationId, permissions: [...permissions] })
  const everything = await token()
  return {
    app,
    config,
    databaseUrl,
    sql,
    token,
    inject: (options) => app.inject({ ...options, headers: { authorization: `Bearer ${everything}`, ...options.headers } }),
    async close() {
      await app.close()
      await sql.end()
      if (ownDataDir) await rm(ownDataDir, { recursive: true, force: true })
    },
  }
}

/** The HTTP methods the API answers. */
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export const recordingsUrl = (conversationId: string) => `/api/v2/conversations/${conversationId}/recordings`

/** Ingests a recording through the API and returns what the store answered. */
export async function ingest(ctx: Pick<TestContext, 'inject'>, conversationId: string, body: object): Promise<Recording> {
  const res = await ctx.inject({ method: 'POST', url: recordingsUrl(conversationId), payload: body })
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

/** A second organization, to prove nothing crosses between tenants. */
export async function createOrganization(ctx: TestContext, name: string): Promise<string> {
  const { rows } = await ctx.sql.query<{ id: string }>('INSERT INTO organizations (id, name) VALUES (gen_random_uuid(), $1) RETURNING id', [name])
  return rows[0]?.id as string
}

/** Waits until `check` holds, polling; fails naming `what` after `ms`. For outcomes of background work. */
export async function eventually(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
