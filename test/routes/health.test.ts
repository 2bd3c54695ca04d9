import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { shippedMigrations } from '../../src/db/migrations.js'
import { createTestContext, expectErrorBody, type TestContext } from '../helpers.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

describe('health', () => {
  it('is live', async () => {
    const res = await ctx.inject({ method: 'GET', url: '/health/live' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok' })
  })

  it('is ready when the database answers and every shipped migration is applied', async () => {
    const res = await ctx.inject({ method: 'GET', url: '/health/ready' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok', database: 'up', pendingMigrations: [] })
  })

  it('is not ready while a shipped migration is missing from the database', async () => {
    const app = await buildApp({ config: ctx.config, databaseUrl: ctx.databaseUrl, migrations: [...(await shippedMigrations()), '29990101000000_future'] })
    try {
      const res = await app.inject({ method: 'GET', url: '/health/ready' })
      const body = expectErrorBody(res, 503)
      expect(body.code).toBe('service.unavailable')
      expect(body.message).toContain('29990101000000_future')
      expect(res.headers['retry-after']).toBe('5')
    } finally {
      await app.close()
    }
  })

  it("is not ready while the job queue's schema is missing: deletes would have nowhere to queue the removal of media", async () => {
    const other = await createTestContext({ JOB_CONCURRENCY: '0' })
    try {
      await other.sql.query('DROP SCHEMA graphile_worker CASCADE')
      const res = await other.inject({ method: 'GET', url: '/health/ready' })
      expect(expectErrorBody(res, 503).message).toContain('graphile-worker')
    } finally {
      await other.close()
    }
  })

  it('is not ready when the database cannot be reached, but stays live', async () => {
    // A configured signing key: building the app then needs no database.
    const config = { ...ctx.config, TOKEN_SIGNING_KEY: 'k'.repeat(32) }
    const app = await buildApp({ config, databaseUrl: 'postgresql://nobody@127.0.0.1:1/none', migrations: await shippedMigrations() })
    try {
      expect(expectErrorBody(await app.inject({ method: 'GET', url: '/health/ready' }), 503).message).toMatch(/database is not reachable/)
      expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200)
    } finally {
      await app.close()
    }
  })
})
