import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Prisma } from '../../src/generated/prisma/client.js'
import type { RecordingRetentionListing } from '../../src/schemas/retention.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { createOrganization, createTestContext, expectErrorBody, ingest, type TestContext } from '../helpers.js'

const QUERY = '/api/v2/recordings/retention/query'
const DAY = 86_400_000

let ctx: TestContext
let orgId: string
let asOrg: TestContext['inject']
beforeAll(async () => {
  ctx = await createTestContext()
  // An organization of its own, so other tests' recordings never show.
  orgId = await createOrganization(ctx, `retention-${randomUUID()}`)
  const token = await ctx.token(undefined, orgId)
  asOrg = (options) => ctx.app.inject({ ...options, headers: { authorization: `Bearer ${token}`, ...options.headers } })
})
afterAll(async () => {
  await ctx.close()
})

/** A recording of `asOrg`'s organization kept `days` days after its creation (none: no deleteDate). */
async function keptFor(days: number | undefined, extra: object = {}) {
  const deleteDate = days === undefined ? undefined : new Date(Date.now() + days * DAY).toISOString()
  const recording = await ingest({ inject: asOrg }, randomUUID(), { name: 'kept', media: 'chat', deleteDate, ...extra })
  return recording
}

const query = async (url: string) => {
  const res = await asOrg({ method: 'GET', url })
  expect(res.statusCode, res.body).toBe(200)
  return res.json<RecordingRetentionListing>()
}

describe('GET /api/v2/recordings/retention/query', () => {
  it('lists the recordings kept more than the threshold, shortest retention first and those without deleteDate last, page by page', async () => {
    const short = await keptFor(5)
    const [ten, forty, ninety] = [await keptFor(10), await keptFor(40, { archiveDate: new Date(Date.now() + 20 * DAY).toISOString() }), await keptFor(90)]
    const forever = await keptFor(undefined)
    const all = await query(`${QUERY}?retentionThresholdDays=7`)
    expect(all.entities.map((e) => e.recordingId)).toEqual([ten.id, forty.id, ninety.id, forever.id])
    expect(all.entities).not.toContainEqual(expect.objectContaining({ recordingId: short.id }))
    expect(all.entities[1]).toEqual({
      conversationId: forty.conversationId, recordingId: forty.id, archiveDate: forty.archiveDate, deleteDate: forty.deleteDate, creationTime: forty.creationTime,
    })
    expect(all.entities[3]).toEqual({ conversationId: forever.conversationId, recordingId: forever.id, creationTime: forever.creationTime })
    expect(all.selfUri).toBe(`${QUERY}?retentionThresholdDays=7&pageSize=25`)
    expect(all.nextUri).toBeUndefined()

    const seen: string[] = []
    let url: string | undefined = `${QUERY}?retentionThresholdDays=7&pageSize=3`
    while (url) {
      const page = await query(url)
      expect(page.entities.length).toBeLessThanOrEqual(3)
      seen.push(...page.entities.map((e) => e.recordingId ?? ''))
      url = page.nextUri
    }
    expect(seen).toEqual(all.entities.map((e) => e.recordingId))
    expect((await query(`${QUERY}?retentionThresholdDays=60`)).entities.map((e) => e.recordingId)).toEqual([ninety.id, forever.id])
  })

  it('refuses a missing or negative threshold, a page size over 500, and a cursor made for another threshold (400)', async () => {
    for (const url of [QUERY, `${QUERY}?retentionThresholdDays=-1`, `${QUERY}?retentionThresholdDays=x`, `${QUERY}?retentionThresholdDays=1&pageSize=501`]) {
      expectErrorBody(await asOrg({ method: 'GET', url }), 400)
    }
    await keptFor(100)
    await keptFor(200)
    const first = await query(`${QUERY}?retentionThresholdDays=1&pageSize=1`)
    const cursor = new URL(`http://x${first.nextUri ?? ''}`).searchParams.get('cursor') ?? ''
    expect(cursor).not.toBe('')
    const body = expectErrorBody(await asOrg({ method: 'GET', url: `${QUERY}?retentionThresholdDays=2&pageSize=1&cursor=${cursor}` }), 400)
    expect(body.details.map((d) => d.fieldName)).toEqual(['cursor'])
  })

  it("shows only the caller's organization, and another organization's cursor is refused", async () => {
    const mine = await keptFor(30)
    const others = await ctx.inject({ method: 'GET', url: `${QUERY}?retentionThresholdDays=0&pageSize=500` })
    expect(others.statusCode).toBe(200)
    expect(others.body).not.toContain(mine.id)
    const page = await query(`${QUERY}?retentionThresholdDays=0&pageSize=1`)
    expect(page.nextUri).toBeDefined()
    expectErrorBody(await ctx.inject({ method: 'GET', url: page.nextUri ?? '' }), 400)
    expect(DEFAULT_ORGANIZATION_ID).not.toBe(orgId)
  })

  it('reads one range of the retention index, in order: no sort, no rows of other organizations or of shorter retention', async () => {
    // Enough rows, in this and another organization, for the planner to choose as it would in production.
    const other = await createOrganization(ctx, `retention-other-${randomUUID()}`)
    await ctx.sql.query(`INSERT INTO recordings (id, organization_id, conversation_id, file_state, creation_time, delete_date)
      SELECT gen_random_uuid(), CASE WHEN g % 2 = 0 THEN $1::uuid ELSE $2::uuid END, 'c' || g, 'AVAILABLE',
        now() - g * interval '1 minute', now() + (g % 400) * interval '1 day'
      FROM generate_series(1, 20000) g`, [orgId, other])
    await ctx.sql.query('ANALYZE recordings')
    const rows = await ctx.app.prisma.$queryRaw<{ 'QUERY PLAN': string }[]>(
      Prisma.sql`EXPLAIN ${ctx.app.services.retention.pageQuery(orgId, 300, 26, { key: '26352000', id: randomUUID() })}`,
    )
    const plan = rows.map((row) => row['QUERY PLAN']).join('\n')
    expect(plan).toMatch(/Index (Only )?Scan using recordings_retention_span_idx/)
    expect(plan).not.toMatch(/\bSort\b|Seq Scan|Filter:/)
  })
})
