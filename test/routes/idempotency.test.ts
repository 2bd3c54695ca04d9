import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Annotation, Recording } from '../../src/schemas/recording.js'
import { ALL_PERMISSIONS } from '../../src/auth/permissions.js'
import { audioRecording } from '../fixtures.js'
import { createOrganization, createTestContext, expectErrorBody, ingest, recordingsUrl, rowCounts, type TestContext } from '../helpers.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

const post = (url: string, payload: object, key?: string, headers: Record<string, string> = {}) =>
  ctx.inject({ method: 'POST', url, payload, headers: { ...(key === undefined ? {} : { 'idempotency-key': key }), ...headers } })

/** The stored keys, to prove what a request kept or released. */
async function storedKeys(key: string) {
  const { rows } = await ctx.sql.query<{ status_code: number | null; client_id: string; ttl_hours: number }>(
    `SELECT status_code, client_id, (extract(epoch FROM expires_at - claimed_at) / 3600)::float8 AS ttl_hours FROM idempotency_keys WHERE key = $1`,
    [key],
  )
  return rows
}

const recordingsOf = async (conversationId: string) =>
  Number((await ctx.sql.query<{ n: string }>('SELECT count(*) AS n FROM recordings WHERE conversation_id = $1', [conversationId])).rows[0]?.n)

describe('Idempotency-Key on ingest', () => {
  it('replays the first answer (status, body, Location, ETag) with Idempotent-Replayed: true and stores one recording', async () => {
    const conversationId = randomUUID()
    const key = randomUUID()
    const before = await rowCounts(ctx.sql)
    const first = await post(recordingsUrl(conversationId), audioRecording, key)
    expect(first.statusCode, first.body).toBe(201)
    expect(first.headers['idempotent-replayed']).toBeUndefined()
    const again = await post(recordingsUrl(conversationId), audioRecording, key)
    expect(again.statusCode).toBe(201)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.body).toBe(first.body)
    expect(again.headers.location).toBe(first.headers.location)
    expect(again.headers.etag).toBe(first.headers.etag)
    expect(again.headers['content-type']).toBe(first.headers['content-type'])
    expect(await rowCounts(ctx.sql)).toEqual({
      ...before,
      recordings: before.recordings! + 1,
      annotations: before.annotations! + 2,
      media_results: before.media_results! + 2,
      recording_users: before.recording_users! + 2,
    })
    expect(await storedKeys(key)).toEqual([{ status_code: 201, client_id: expect.any(String), ttl_hours: ctx.config.IDEMPOTENCY_KEY_TTL_HOURS }])
  })

  it('keeps a key for IDEMPOTENCY_KEY_TTL_HOURS, 24 by default', () => {
    expect(ctx.config.IDEMPOTENCY_KEY_TTL_HOURS).toBe(24)
  })

  it('treats a body with its members in another order as the same request', async () => {
    const conversationId = randomUUID()
    const key = randomUUID()
    const first = await post(recordingsUrl(conversationId), { media: 'chat', name: 'order', startTime: '2024-05-01T12:00:00.000Z' }, key)
    expect(first.statusCode).toBe(201)
    const reordered = await post(recordingsUrl(conversationId), { startTime: '2024-05-01T12:00:00.000Z', name: 'order', media: 'chat' }, key)
    expect(reordered.statusCode).toBe(201)
    expect(reordered.headers['idempotent-replayed']).toBe('true')
    expect(reordered.body).toBe(first.body)
    expect(await recordingsOf(conversationId)).toBe(1)
  })

  it('treats a quoted key (a Structured Field string) as the same key bare', async () => {
    const conversationId = randomUUID()
    const key = randomUUID()
    const first = await post(recordingsUrl(conversationId), { media: 'chat' }, `"${key}"`)
    expect(first.statusCode).toBe(201)
    const bare = await post(recordingsUrl(conversationId), { media: 'chat' }, key)
    expect(bare.headers['idempotent-replayed']).toBe('true')
    expect(bare.body).toBe(first.body)
    expect(await recordingsOf(conversationId)).toBe(1)
  })

  it('answers 422 with the error body when the key is reused with another body or on another path, storing nothing', async () => {
    const conversationId = randomUUID()
    const key = randomUUID()
    const first = await post(recordingsUrl(conversationId), { media: 'chat', name: 'first' }, key)
    expect(first.statusCode).toBe(201)
    const before = await rowCounts(ctx.sql)
    const otherConversation = randomUUID()
    for (const [url, body] of [
      [recordingsUrl(conversationId), { media: 'chat', name: 'second' }],
      [recordingsUrl(otherConversation), { media: 'chat', name: 'first' }],
    ] as const) {
      const res = await post(url, body, key)
      const error = expectErrorBody(res, 422)
      expect(error.code).toBe('idempotency.key.reused')
      expect(error.message).toMatch(/another request/)
      expect(res.headers['idempotent-replayed']).toBeUndefined()
    }
    expect(await rowCounts(ctx.sql)).toEqual(before)
    expect(await recordingsOf(otherConversation)).toBe(0)
    // The key still answers its own request.
    expect((await post(recordingsUrl(conversationId), { media: 'chat', name: 'first' }, key)).body).toBe(first.body)
  })

  it('answers 409 with Retry-After: 1 and the error body while the first request with the key is in flight', async () => {
    const conversationId = randomUUID()
    const key = randomUUID()
    expect((await post(recordingsUrl(conversationId), { media: 'chat' }, key)).statusCode).toBe(201)
    // Back to the state of a first attempt that is still running (same request, so the same fingerprint).
    await ctx.sql.query('UPDATE idempotency_keys SET status_code = NULL, response_body = NULL, claimed_at = now() WHERE key = $1', [key])
    const res = await post(recordingsUrl(conversationId), { media: 'chat' }, key)
    const error = expectErrorBody(res, 409)
    expect(error.code).toBe('idempotency.key.in.flight')
    expect(res.headers['retry-after']).toBe('1')
    expect(await recordingsOf(conversationId)).toBe(1)
  })

  it('lets a retry take over a claim left by a crashed process once it is older than the request timeout', async () => {
    const conversationId = randomUUID()
    const key = randomUUID()
    expect((await post(recordingsUrl(conversationId), { media: 'chat' }, key)).statusCode).toBe(201)
    await ctx.sql.query(
      `UPDATE idempotency_keys SET status_code = NULL, response_body = NULL, claimed_at = now() - make_interval(secs => $2::float8) WHERE key = $1`,
      [key, ctx.config.REQUEST_TIMEOUT_MS / 1000 + 1],
    )
    const retry = await post(recordingsUrl(conversationId), { media: 'chat' }, key)
    expect(retry.statusCode, retry.body).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBeUndefined()
    expect(await storedKeys(key)).toMatchObject([{ status_code: 201 }])
    // The retry's answer is the one kept from now on.
    expect((await post(recordingsUrl(conversationId), { media: 'chat' }, key)).body).toBe(retry.body)
  })

  it('stores the ingest answer in the statement that creates the recording, so a crash before sending it leaves a replayable key', async () => {
    // A claim as the hook makes it, then the service alone: what a process that dies right after the create leaves.
    const conversationId = randomUUID()
    const key = randomUUID()
    const claim = randomUUID()
    const first = await post(recordingsUrl(randomUUID()), { media: 'chat' }, randomUUID())
    const { rows: [scope] } = await ctx.sql.query<{ organization_id: string; client_id: string }>(
      'SELECT organization_id, client_id FROM idempotency_keys ORDER BY claimed_at DESC LIMIT 1',
    )
    if (!scope) throw new Error(`no key stored by ${first.statusCode}`)
    await ctx.sql.query(
      `INSERT INTO idempotency_keys (organization_id, client_id, key, fingerprint, claim, claimed_at, expires_at)
       VALUES ($1, $2, $3, 'not-this-request', $4, now(), now() + interval '1 hour')`,
      [scope.organization_id, scope.client_id, key, claim],
    )
    const created = await ctx.app.services.recordings.create(scope.organization_id, conversationId, { media: 'chat' }, {
      key: { scope: { organizationId: scope.organization_id, clientId: scope.client_id, key }, claim },
      statusCode: 201,
      contentType: 'application/json; charset=utf-8',
    })
    const { rows } = await ctx.sql.query('SELECT status_code, response_headers, response_body FROM idempotency_keys WHERE key = $1', [key])
    expect(rows).toEqual([{
      status_code: 201,
      response_headers: { 'content-type': 'application/json; charset=utf-8', location: created.selfUri, etag: created.etag },
      response_body: created.json,
    }])
  })

  it('does not keep the key when the first attempt fails (400 from validation or from the service), so a corrected retry succeeds', async () => {
    const conversationId = randomUUID()
    const key = randomUUID()
    const before = await rowCounts(ctx.sql)
    expectErrorBody(await post(recordingsUrl(conversationId), { media: 'chat', durationSec: 3 }, key), 400)
    // Refused by the service after the key was claimed: the claim is released.
    expectErrorBody(await post(recordingsUrl(conversationId), { media: 'chat', conversationId: 'another' }, key), 400)
    expect(await storedKeys(key)).toEqual([])
    expect(await rowCounts(ctx.sql)).toEqual(before)
    const fixed = await post(recordingsUrl(conversationId), { media: 'chat' }, key)
    expect(fixed.statusCode, fixed.body).toBe(201)
    expect(fixed.headers['idempotent-replayed']).toBeUndefined()
    expect(await recordingsOf(conversationId)).toBe(1)
  })

  it.each([
    ['empty', ''],
    ['256 characters long', 'k'.repeat(256)],
    ['not ASCII', 'cl\u00e9'],
    ['holding a control character', 'a\tb'],
    ['an empty quoted string', '""'],
  ])('answers 400 for a key that is %s, storing nothing', async (_case, key) => {
    const conversationId = randomUUID()
    const before = await rowCounts(ctx.sql)
    const error = expectErrorBody(await post(recordingsUrl(conversationId), { media: 'chat' }, key), 400)
    expect(error.message).toMatch(/Idempotency-Key must be 1 to 255 printable ASCII characters/)
    expect(error.details).toMatchObject([{ fieldName: 'Idempotency-Key', in: 'headers' }])
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })

  it('accepts a key of 255 printable characters', async () => {
    const key = `${' ~'.repeat(127)}!`
    const conversationId = randomUUID()
    expect((await post(recordingsUrl(conversationId), { media: 'chat' }, key)).statusCode).toBe(201)
    expect((await post(recordingsUrl(conversationId), { media: 'chat' }, key)).headers['idempotent-replayed']).toBe('true')
    expect(await recordingsOf(conversationId)).toBe(1)
  })

  it('scopes keys to the client and its organization', async () => {
    const conversationId = randomUUID()
    const key = randomUUID()
    const otherClient = await ctx.token(ALL_PERMISSIONS.slice(1))
    const otherOrganization = await ctx.token(ALL_PERMISSIONS, await createOrganization(ctx, `idempotency-${key}`))
    const answers = []
    for (const token of [undefined, otherClient, otherOrganization]) {
      const res = await post(recordingsUrl(conversationId), { media: 'chat' }, key, token ? { authorization: `Bearer ${token}` } : {})
      expect(res.statusCode).toBe(201)
      expect(res.headers['idempotent-replayed']).toBeUndefined()
      answers.push(res.json<Recording>().id)
    }
    expect(new Set(answers).size).toBe(3)
    expect(await recordingsOf(conversationId)).toBe(3)
    expect((await storedKeys(key)).length).toBe(3)
  })

  it('forgets an expired key: the request runs again, and the sweep deletes expired keys', async () => {
    const conversationId = randomUUID()
    const key = randomUUID()
    const first = await post(recordingsUrl(conversationId), { media: 'chat' }, key)
    await ctx.sql.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [key])
    const later = await post(recordingsUrl(conversationId), { media: 'chat' }, key)
    expect(later.statusCode).toBe(201)
    expect(later.headers['idempotent-replayed']).toBeUndefined()
    expect(later.json<Recording>().id).not.toBe(first.json<Recording>().id)
    expect(await recordingsOf(conversationId)).toBe(2)

    const expired = randomUUID()
    expect((await post(recordingsUrl(randomUUID()), { media: 'chat' }, expired)).statusCode).toBe(201)
    await ctx.sql.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [expired])
    expect(await ctx.app.idempotencyKeys.sweep()).toBeGreaterThanOrEqual(1)
    expect(await storedKeys(expired)).toEqual([])
    expect(await storedKeys(key)).toMatchObject([{ status_code: 201 }])
  })

  it('changes nothing for requests without the header: two POSTs store two recordings', async () => {
    const conversationId = randomUUID()
    const { rows: [{ n: keysBefore } = { n: '0' }] } = await ctx.sql.query<{ n: string }>('SELECT count(*) AS n FROM idempotency_keys')
    for (let i = 0; i < 2; i++) {
      const res = await post(recordingsUrl(conversationId), { media: 'chat' })
      expect(res.statusCode).toBe(201)
      expect(res.headers['idempotent-replayed']).toBeUndefined()
    }
    expect(await recordingsOf(conversationId)).toBe(2)
    const { rows: [{ n: keysAfter } = { n: '0' }] } = await ctx.sql.query<{ n: string }>('SELECT count(*) AS n FROM idempotency_keys')
    expect(keysAfter).toBe(keysBefore)
  })
})

describe('Idempotency-Key on annotation POST', () => {
  it('replays the first answer (200, the annotation, its ETag) and creates no second annotation', async () => {
    const conversationId = randomUUID()
    const recording = await ingest(ctx, conversationId, { media: 'chat' })
    const url = `${recordingsUrl(conversationId)}/${recording.id}/annotations`
    const key = randomUUID()
    const first = await post(url, { name: 'once', location: 10 }, key)
    expect(first.statusCode, first.body).toBe(200)
    const again = await post(url, { name: 'once', location: 10 }, key)
    expect(again.statusCode).toBe(200)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.body).toBe(first.body)
    expect(again.headers.etag).toBe(first.headers.etag)
    const list = await ctx.inject({ method: 'GET', url })
    expect(list.json<Annotation[]>().map((a) => a.name)).toEqual(['once'])
  })

  it('annotation POST stores its answer in the transaction that creates the annotation: a claim whose create committed is never free for a second create', async () => {
    const conversationId = randomUUID()
    const recording = await ingest(ctx, conversationId, { media: 'chat' })
    const url = `${recordingsUrl(conversationId)}/${recording.id}/annotations`
    const body = { name: 'once', location: 10 }
    const key = randomUUID()
    const first = await post(url, body, key)
    expect(first.statusCode, first.body).toBe(200)
    const stored = async () => (await ctx.sql.query<{ organization_id: string; client_id: string; status_code: number | null; response_headers: object; response_body: string }>(
      'SELECT organization_id, client_id, status_code, response_headers, response_body FROM idempotency_keys WHERE key = $1', [key])).rows
    expect(await stored()).toMatchObject([{
      status_code: 200,
      response_headers: { 'content-type': first.headers['content-type'], etag: first.headers.etag },
      response_body: first.body,
    }])

    // Back to a claim of this request whose process died before its create, old enough to count as abandoned; then
    // the service alone, as a process that dies right after the create's commit would have run it.
    const [scope] = await stored()
    if (!scope) throw new Error('no key stored')
    await ctx.sql.query('DELETE FROM annotations WHERE id = $1', [first.json<Annotation>().id])
    const claim = randomUUID()
    await ctx.sql.query(
      `UPDATE idempotency_keys SET status_code = NULL, response_headers = NULL, response_body = NULL, claim = $2,
         claimed_at = now() - make_interval(secs => $3::float8) WHERE key = $1`,
      [key, claim, ctx.config.REQUEST_TIMEOUT_MS / 1000 + 1],
    )
    const written = await ctx.app.services.annotations.upsert(
      { organizationId: scope.organization_id, conversationId, recordingId: String(recording.id) },
      undefined, body, { create: true, update: true }, undefined,
      { key: { scope: { organizationId: scope.organization_id, clientId: scope.client_id, key }, claim }, statusCode: 200, contentType: 'application/json; charset=utf-8', serialize: JSON.stringify },
    )
    expect(await stored()).toMatchObject([{
      status_code: 200,
      response_headers: { 'content-type': 'application/json; charset=utf-8', etag: written.etag },
      response_body: written.json,
    }])

    const retry = await post(url, body, key)
    expect(retry.statusCode).toBe(200)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(retry.body).toBe(written.json)
    expect(retry.headers.etag).toBe(written.etag)
    const list = await ctx.inject({ method: 'GET', url })
    expect(list.json<Annotation[]>().map((a) => a.id)).toEqual([written.annotation.id])
  })

  it('stores the answer of an annotation POST that updates (an existing id) as it was sent, and keeps nothing when the update is refused (412)', async () => {
    const conversationId = randomUUID()
    const recording = await ingest(ctx, conversationId, { media: 'chat' })
    const url = `${recordingsUrl(conversationId)}/${recording.id}/annotations`
    const created = await post(url, { name: 'before' })
    const { id } = created.json<Annotation>()
    const stale = randomUUID()
    expectErrorBody(await post(url, { id, name: 'stale' }, stale, { 'if-match': '"0"' }), 412)
    expect(await storedKeys(stale)).toEqual([])

    const key = randomUUID()
    const first = await post(url, { id, name: 'after' }, key, { 'if-match': created.headers.etag as string })
    expect(first.statusCode, first.body).toBe(200)
    expect(first.json<Annotation>()).toMatchObject({ id, name: 'after' })
    const { rows } = await ctx.sql.query('SELECT status_code, response_headers, response_body FROM idempotency_keys WHERE key = $1', [key])
    expect(rows).toEqual([{ status_code: 200, response_headers: { 'content-type': first.headers['content-type'], etag: first.headers.etag }, response_body: first.body }])
    const again = await post(url, { id, name: 'after' }, key, { 'if-match': created.headers.etag as string })
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.body).toBe(first.body)
  })

  it('releases the key when the recording does not exist (404)', async () => {
    const key = randomUUID()
    const url = `${recordingsUrl(randomUUID())}/${randomUUID()}/annotations`
    expectErrorBody(await post(url, { name: 'nowhere' }, key), 404)
    expect(await storedKeys(key)).toEqual([])
  })
})

describe('Idempotency-Key under concurrency', () => {
  it('stores exactly one recording for 50 concurrent POSTs with one key; the others get the replay or 409', async () => {
    const baseUrl = await ctx.app.listen({ port: 0, host: '127.0.0.1' })
    const token = await ctx.token()
    const conversationId = randomUUID()
    const key = randomUUID()
    const before = await rowCounts(ctx.sql)
    const answers = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const res = await fetch(`${baseUrl}${recordingsUrl(conversationId)}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify(audioRecording),
        })
        return { statusCode: res.status, headers: Object.fromEntries(res.headers), body: await res.text() }
      }),
    )
    const created = answers.filter((a) => a.statusCode === 201 && a.headers['idempotent-replayed'] === undefined)
    const replayed = answers.filter((a) => a.statusCode === 201 && a.headers['idempotent-replayed'] === 'true')
    const inFlight = answers.filter((a) => a.statusCode === 409)
    console.info(`50 concurrent POSTs with one Idempotency-Key: 1 created, ${replayed.length} replayed, ${inFlight.length} answered 409`)
    expect(created).toHaveLength(1)
    expect(replayed.length + inFlight.length).toBe(49)
    for (const answer of replayed) expect(answer.body).toBe(created[0]?.body)
    for (const answer of inFlight) {
      expect(expectErrorBody(answer, 409).code).toBe('idempotency.key.in.flight')
      expect(answer.headers['retry-after']).toBe('1')
    }
    expect(await recordingsOf(conversationId)).toBe(1)
    expect(await rowCounts(ctx.sql)).toEqual({
      ...before,
      recordings: before.recordings! + 1,
      annotations: before.annotations! + 2,
      media_results: before.media_results! + 2,
      recording_users: before.recording_users! + 2,
    })
  })
})
