import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Recording } from '../../src/schemas/recording.js'
import { notProtected } from '../../src/services/deletion-protection-service.js'
import { audioRecording } from '../fixtures.js'
import { createOrganization, createTestContext, expectErrorBody, ingest, recordingsUrl, type TestContext } from '../helpers.js'

const PROTECTION = '/api/v2/recordings/deletionprotection'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

const protect = (conversationIds: string[], protect = true) =>
  ctx.inject({ method: 'PUT', url: `${PROTECTION}?protect=${protect}`, payload: { conversationIds } })
const protectedAmong = async (conversationIds: string[]) => {
  const res = await ctx.inject({ method: 'POST', url: PROTECTION, payload: { conversationIds } })
  expect(res.statusCode, res.body).toBe(200)
  return res.json<{ id: string; selfUri: string }[]>()
}
const recordingUrl = (r: Recording) => `${recordingsUrl(r.conversationId ?? '')}/${r.id}`
const stored = async (id: string | undefined) => (await ctx.sql.query('SELECT 1 FROM recordings WHERE id = $1', [id])).rowCount

describe('PUT and POST /api/v2/recordings/deletionprotection', () => {
  it('protects, lists the protected among the ids asked about, and protect=false lifts it', async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()]
    const res = await protect([a, b])
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toEqual({ failedUpdates: [] })
    expect(await protectedAmong([c, b, a, b])).toEqual([
      { id: b, selfUri: `/api/v2/conversations/${b}` },
      { id: a, selfUri: `/api/v2/conversations/${a}` },
    ])
    // Protecting again changes nothing; protect defaults to true.
    expect((await ctx.inject({ method: 'PUT', url: PROTECTION, payload: { conversationIds: [a] } })).statusCode).toBe(200)
    expect((await protect([a], false)).json()).toEqual({ failedUpdates: [] })
    expect(await protectedAmong([a, b, c])).toEqual([{ id: b, selfUri: `/api/v2/conversations/${b}` }])
  })

  it('answers 400 "conversationIds required" to a PUT without a body, and to more than 100 ids', async () => {
    const bodyless = await ctx.inject({ method: 'PUT', url: PROTECTION, headers: { 'content-type': 'application/json' } })
    const body = expectErrorBody(bodyless, 400)
    expect(body.message).toContain('conversationIds required')
    expect(body.details.map((d) => d.fieldName)).toEqual(['conversationIds'])
    const many = Array.from({ length: 101 }, () => randomUUID())
    expect(expectErrorBody(await protect(many), 400).details.map((d) => d.fieldName)).toContain('conversationIds')
    expectErrorBody(await ctx.inject({ method: 'POST', url: PROTECTION, payload: { conversationIds: many } }), 400)
    expect(await protectedAmong(many.slice(0, 100))).toEqual([])
  })

  it('applying needs recording:deletionProtection:apply and revoking needs recording:deletionProtection:revoke', async () => {
    const id = randomUUID()
    const put = async (permission: 'apply' | 'revoke', on: boolean) =>
      ctx.app.inject({
        method: 'PUT', url: `${PROTECTION}?protect=${on}`, payload: { conversationIds: [id] },
        headers: { authorization: `Bearer ${await ctx.token([`recording:deletionProtection:${permission}`])}` },
      })
    expect(expectErrorBody(await put('revoke', true), 403).message).toContain('recording:deletionProtection:apply')
    expect(await protectedAmong([id])).toEqual([])
    expect((await put('apply', true)).statusCode).toBe(200)
    expect(expectErrorBody(await put('apply', false), 403).message).toContain('recording:deletionProtection:revoke')
    expect(await protectedAmong([id])).toHaveLength(1)
    expect((await put('revoke', false)).statusCode).toBe(200)
    expect(await protectedAmong([id])).toEqual([])
  })
})

describe('a protected conversation keeps its recordings', () => {
  it('DELETE answers 409 recording.deletion.protected and the recording stays; after revoking, DELETE removes it', async () => {
    const recording = await ingest(ctx, randomUUID(), audioRecording)
    await protect([recording.conversationId ?? ''])
    for (const headers of [{}, { 'if-match': `"${(await ctx.sql.query<{ v: string }>('SELECT version::text AS v FROM recordings WHERE id = $1', [recording.id])).rows[0]?.v}"` }]) {
      const body = expectErrorBody(await ctx.inject({ method: 'DELETE', url: recordingUrl(recording), headers }), 409)
      expect(body.code).toBe('recording.deletion.protected')
      expect(body.message).toContain(recording.conversationId)
    }
    expect(await stored(recording.id)).toBe(1)
    await protect([recording.conversationId ?? ''], false)
    expect((await ctx.inject({ method: 'DELETE', url: recordingUrl(recording) })).statusCode).toBe(204)
    expect(await stored(recording.id)).toBe(0)
  })

  it('the database itself refuses to delete it, whoever deletes, and the whole statement fails', async () => {
    const kept = await ingest(ctx, randomUUID(), audioRecording)
    const free = await ingest(ctx, randomUUID(), audioRecording)
    await protect([kept.conversationId ?? ''])
    await expect(ctx.sql.query('DELETE FROM recordings WHERE id = ANY($1::uuid[])', [[kept.id, free.id]]))
      .rejects.toMatchObject({ code: 'RS409', message: expect.stringContaining('deletion protection') })
    expect(await stored(kept.id)).toBe(1)
    expect(await stored(free.id)).toBe(1)
    // Selecting with the exported rule deletes what may go and leaves the protected.
    await ctx.sql.query(`DELETE FROM recordings r WHERE r.id = ANY($1::uuid[]) AND ${notProtected('r').strings.join('')}`, [[kept.id, free.id]])
    expect(await stored(kept.id)).toBe(1)
    expect(await stored(free.id)).toBe(0)
  })

  it('protection may come before the recordings: one ingested later is protected too', async () => {
    const conversationId = randomUUID()
    await protect([conversationId])
    const recording = await ingest(ctx, conversationId, audioRecording)
    expect(expectErrorBody(await ctx.inject({ method: 'DELETE', url: recordingUrl(recording) }), 409).code).toBe('recording.deletion.protected')
  })

  it('PUT may not bring the deleteDate forward (nor set one where there was none, nor one in the past), but may keep, clear or postpone it', async () => {
    const recording = await ingest(ctx, randomUUID(), audioRecording) // deleteDate 2031-05-01
    await protect([recording.conversationId ?? ''])
    const put = (deleteDate: string | null) =>
      ctx.inject({ method: 'PUT', url: recordingUrl(recording), payload: { deleteDate } })
    for (const earlier of ['2031-04-30T00:00:00.000Z', new Date(Date.now() + 60_000).toISOString(), new Date(Date.now() - 60_000).toISOString()]) {
      expect(expectErrorBody(await put(earlier), 409).code, earlier).toBe('recording.deletion.protected')
    }
    expect((await ctx.sql.query<{ d: Date }>('SELECT delete_date AS d FROM recordings WHERE id = $1', [recording.id])).rows[0]?.d.toISOString()).toBe(audioRecording.deleteDate)
    expect((await put(audioRecording.deleteDate)).statusCode).toBe(200)
    expect((await put('2032-01-01T00:00:00.000Z')).json<Recording>().deleteDate).toBe('2032-01-01T00:00:00.000Z')
    expect((await put(null)).json<Recording>().deleteDate).toBeUndefined()
    expect(expectErrorBody(await put('2040-01-01T00:00:00.000Z'), 409).code).toBe('recording.deletion.protected')
    // Released: any future date again.
    await protect([recording.conversationId ?? ''], false)
    expect((await put('2031-01-01T00:00:00.000Z')).statusCode).toBe(200)
  })
})

describe('two organizations', () => {
  it("an organization's protection neither shows in nor covers another's recordings of the same conversation id", async () => {
    const orgB = await createOrganization(ctx, `protection-${randomUUID()}`)
    const tokenB = await ctx.token(undefined, orgB)
    const asB = (options: Parameters<TestContext['inject']>[0]) => ctx.app.inject({ ...options, headers: { authorization: `Bearer ${tokenB}`, ...options.headers } })
    const conversationId = randomUUID()
    const mine = await ingest(ctx, conversationId, audioRecording)
    const theirs = await ingest({ inject: asB }, conversationId, audioRecording)
    await protect([conversationId])

    const seenByB = await asB({ method: 'POST', url: PROTECTION, payload: { conversationIds: [conversationId] } })
    expect(seenByB.json()).toEqual([])
    // B's revocation lifts nothing of A's.
    expect((await asB({ method: 'PUT', url: `${PROTECTION}?protect=false`, payload: { conversationIds: [conversationId] } })).statusCode).toBe(200)
    expect(await protectedAmong([conversationId])).toHaveLength(1)
    expect(expectErrorBody(await ctx.inject({ method: 'DELETE', url: recordingUrl(mine) }), 409).code).toBe('recording.deletion.protected')
    expect((await asB({ method: 'DELETE', url: recordingUrl(theirs) })).statusCode).toBe(204)
  })
})
