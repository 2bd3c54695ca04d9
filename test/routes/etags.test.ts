import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Annotation, Recording } from '../../src/schemas/recording.js'
import { audioRecording } from '../fixtures.js'
import { createTestContext, expectErrorBody, ingest, recordingsUrl, rowCounts, type Method, type TestContext } from '../helpers.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

const STRONG_ETAG = /^"[\x21\x23-\x7e]+"$/

const send = (method: Method, url: string, headers: Record<string, string> = {}, payload?: object) =>
  ctx.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) })

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing ${what}`)
  return value
}

/** A recording (the audio fixture) and the URLs of it and of its client annotation. */
async function arrange() {
  const conversationId = randomUUID()
  const created = await ctx.inject({ method: 'POST', url: recordingsUrl(conversationId), payload: audioRecording })
  expect(created.statusCode).toBe(201)
  const recording = created.json<Recording>()
  const url = `${recordingsUrl(conversationId)}/${must(recording.id, 'id')}`
  const bookmark = must(recording.annotations?.find((a) => a.name === 'greeting'), 'client annotation')
  return { conversationId, recording, url, createdETag: String(created.headers.etag), annotationUrl: `${url}/annotations/${must(bookmark.id, 'id')}`, bookmark }
}

const etagOf = async (url: string) => {
  const res = await send('GET', url)
  expect(res.statusCode, res.body).toBe(200)
  return String(res.headers.etag)
}

const storedDates = async (id: string) =>
  (await ctx.sql.query<{ archive_date: Date | null; delete_date: Date | null }>('SELECT archive_date, delete_date FROM recordings WHERE id = $1', [id])).rows[0]

describe('ETag on recordings', () => {
  it('answers a strong ETag on GET, the one the ingest answered; If-None-Match with it answers 304 without a body', async () => {
    const { url, createdETag } = await arrange()
    expect(createdETag).toMatch(STRONG_ETAG)
    const res = await send('GET', url)
    expect(res.headers.etag).toBe(createdETag)
    const notModified = await send('GET', url, { 'if-none-match': createdETag })
    expect(notModified.statusCode).toBe(304)
    expect(notModified.body).toBe('')
    expect(notModified.headers.etag).toBe(createdETag)
    expect(notModified.headers['content-type']).toBeUndefined()
    expect(notModified.headers['content-length']).toBeUndefined()
  })

  it('answers 304 for a list holding the current ETag, *, and a weak form of it (weak comparison); 200 for an old one', async () => {
    const { url, createdETag } = await arrange()
    for (const field of [`"0", ${createdETag}`, '*', `W/${createdETag}`]) {
      expect((await send('GET', url, { 'if-none-match': field })).statusCode, field).toBe(304)
    }
    const changed = await send('PUT', url, {}, { archiveDate: '2040-01-01T00:00:00.000Z' })
    expect(changed.statusCode).toBe(200)
    const res = await send('GET', url, { 'if-none-match': createdETag })
    expect(res.statusCode).toBe(200)
    expect(res.headers.etag).toBe(changed.headers.etag)
    expect(res.json<Recording>().archiveDate).toBe('2040-01-01T00:00:00.000Z')
  })

  it('changes with the retention and with every annotation added, changed or deleted; the write answers the new ETag', async () => {
    const { url, createdETag, annotationUrl } = await arrange()
    const seen = [createdETag]
    const step = async (res: { statusCode: number; headers: Record<string, unknown> }, status: number) => {
      expect(res.statusCode).toBe(status)
      const current = await etagOf(url)
      expect(seen).not.toContain(current)
      seen.push(current)
      return current
    }
    const put = await send('PUT', url, {}, { archiveDate: '2040-01-01T00:00:00.000Z' })
    expect(await step(put, 200)).toBe(put.headers.etag)
    await step(await send('POST', `${url}/annotations`, {}, { name: 'added' }), 200)
    await step(await send('PUT', annotationUrl, {}, { name: 'changed' }), 200)
    await step(await send('DELETE', annotationUrl), 204)
    expect(new Set(seen).size).toBe(5)
  })

  it('gives a representation narrowed by query options its own ETag, and honours If-None-Match for it', async () => {
    const { url, createdETag } = await arrange()
    const narrowed = await send('GET', `${url}?formatId=NONE`)
    expect(narrowed.statusCode).toBe(200)
    expect(narrowed.json<Recording>().mediaUris).toBeUndefined()
    const variant = String(narrowed.headers.etag)
    expect(variant).toMatch(STRONG_ETAG)
    expect(variant).not.toBe(createdETag)
    expect((await send('GET', `${url}?mediaFormats=WEBM`)).headers.etag).not.toBe(variant)
    expect((await send('GET', `${url}?formatId=NONE`, { 'if-none-match': variant })).statusCode).toBe(304)
    expect((await send('GET', url, { 'if-none-match': variant })).statusCode).toBe(200)
    // Options that leave the content alone leave the ETag alone.
    expect((await send('GET', `${url}?download=false`)).headers.etag).toBe(createdETag)
  })

  it('answers 412 with the error body to a PUT whose If-Match is not current, and changes nothing', async () => {
    const { url, recording, createdETag } = await arrange()
    const moved = await send('PUT', url, { 'if-match': createdETag }, { archiveDate: '2040-01-01T00:00:00.000Z' })
    expect(moved.statusCode).toBe(200)
    const before = await rowCounts(ctx.sql)
    const stored = await storedDates(must(recording.id, 'id'))
    for (const stale of [createdETag, `W/${String(moved.headers.etag)}`, '"not-a-version"']) {
      const error = expectErrorBody(await send('PUT', url, { 'if-match': stale }, { archiveDate: '2045-01-01T00:00:00.000Z' }), 412)
      expect(error.code, stale).toBe('precondition.failed')
    }
    expect(await storedDates(must(recording.id, 'id'))).toEqual(stored)
    expect(await rowCounts(ctx.sql)).toEqual(before)
    expect(await etagOf(url)).toBe(moved.headers.etag)
  })

  it('accepts the current ETag, the ETag of a variant of the current state, or * in If-Match', async () => {
    const { url, createdETag } = await arrange()
    let current = createdETag
    for (const [field, archiveDate] of [
      [async () => current, '2040-01-01T00:00:00.000Z'],
      [async () => String((await send('GET', `${url}?formatId=NONE`)).headers.etag), '2041-01-01T00:00:00.000Z'],
      [async () => '*', '2042-01-01T00:00:00.000Z'],
    ] as const) {
      const res = await send('PUT', url, { 'if-match': await field() }, { archiveDate })
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json<Recording>().archiveDate).toBe(archiveDate)
      expect(res.headers.etag).not.toBe(current)
      current = String(res.headers.etag)
    }
  })

  it('answers 404, not 412, when the recording does not exist (preconditions apply to existing resources only)', async () => {
    const url = `${recordingsUrl(randomUUID())}/${randomUUID()}`
    expectErrorBody(await send('PUT', url, { 'if-match': '*' }, {}), 404)
    expectErrorBody(await send('DELETE', url, { 'if-match': '"1"' }), 404)
  })

  it('deletes with If-Match only while it is current (412 otherwise, and the recording stays)', async () => {
    const { url, createdETag } = await arrange()
    await send('PUT', url, {}, { archiveDate: '2040-01-01T00:00:00.000Z' })
    const before = await rowCounts(ctx.sql)
    expect(expectErrorBody(await send('DELETE', url, { 'if-match': createdETag }), 412).code).toBe('precondition.failed')
    expect(await rowCounts(ctx.sql)).toEqual(before)
    const res = await send('DELETE', url, { 'if-match': await etagOf(url) })
    expect(res.statusCode).toBe(204)
    expect((await rowCounts(ctx.sql)).recordings).toBe(before.recordings! - 1)
  })
})

describe('ETag on annotations', () => {
  it('answers the annotation ETag on GET, POST and PUT; If-None-Match with it answers 304', async () => {
    const { url, annotationUrl } = await arrange()
    const read = await send('GET', annotationUrl)
    const etag = String(read.headers.etag)
    expect(etag).toMatch(STRONG_ETAG)
    expect((await send('GET', annotationUrl, { 'if-none-match': etag })).statusCode).toBe(304)
    const put = await send('PUT', annotationUrl, {}, { name: 'renamed' })
    expect(put.headers.etag).toMatch(STRONG_ETAG)
    expect(put.headers.etag).not.toBe(etag)
    expect(await etagOf(annotationUrl)).toBe(put.headers.etag)
    const posted = await send('POST', `${url}/annotations`, {}, { name: 'new' })
    expect(posted.statusCode).toBe(200)
    expect(await etagOf(`${url}/annotations/${posted.json<Annotation>().id}`)).toBe(posted.headers.etag)
  })

  it('answers 412 to a PUT or a POST upsert with a stale If-Match, and changes nothing', async () => {
    const { url, annotationUrl, bookmark } = await arrange()
    const stale = await etagOf(annotationUrl)
    const current = String((await send('PUT', annotationUrl, { 'if-match': stale }, { name: 'first writer' })).headers.etag)
    const before = await rowCounts(ctx.sql)
    const recordingETag = await etagOf(url)
    expectErrorBody(await send('PUT', annotationUrl, { 'if-match': stale }, { name: 'second writer' }), 412)
    expectErrorBody(await send('POST', `${url}/annotations`, { 'if-match': stale }, { id: bookmark.id, name: 'second writer' }), 412)
    expect((await send('GET', annotationUrl)).json<Annotation>().name).toBe('first writer')
    expect(await etagOf(annotationUrl)).toBe(current)
    expect(await etagOf(url)).toBe(recordingETag)
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })

  it('answers 412 to a PUT with If-Match (even *) for an annotation that does not exist, creating nothing', async () => {
    const { url } = await arrange()
    const before = await rowCounts(ctx.sql)
    for (const field of ['*', '"1"']) {
      expect(expectErrorBody(await send('PUT', `${url}/annotations/${randomUUID()}`, { 'if-match': field }, { name: 'x' }), 412).code).toBe('precondition.failed')
    }
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })

  it('deletes with If-Match only while it is current', async () => {
    const { annotationUrl } = await arrange()
    const before = await rowCounts(ctx.sql)
    expectErrorBody(await send('DELETE', annotationUrl, { 'if-match': '"0"' }), 412)
    expect(await rowCounts(ctx.sql)).toEqual(before)
    expect((await send('DELETE', annotationUrl, { 'if-match': await etagOf(annotationUrl) })).statusCode).toBe(204)
    expect((await rowCounts(ctx.sql)).annotations).toBe(before.annotations! - 1)
  })

  it('never repeats an ETag for an annotation deleted and made again under its id', async () => {
    const { annotationUrl } = await arrange()
    const first = await etagOf(annotationUrl)
    expect((await send('DELETE', annotationUrl)).statusCode).toBe(204)
    expect((await send('PUT', annotationUrl, {}, { name: 'again' })).statusCode).toBe(200)
    const second = await etagOf(annotationUrl)
    expect(second).not.toBe(first)
    expectErrorBody(await send('PUT', annotationUrl, { 'if-match': first }, { name: 'stale' }), 412)
  })
})

describe('conditional updates under concurrency', () => {
  it('loses no update when 50 clients do 20 read-modify-write cycles each with If-Match on one annotation', async () => {
    const baseUrl = await ctx.app.listen({ port: 0, host: '127.0.0.1' })
    const token = await ctx.token()
    const conversationId = randomUUID()
    const recording = await ingest(ctx, conversationId, { media: 'chat', annotations: [{ name: 'counter', description: '0' }] })
    const url = `${baseUrl}${recordingsUrl(conversationId)}/${must(recording.id, 'id')}/annotations/${must(recording.annotations?.[0]?.id, 'id')}`
    const recordingETag = await etagOf(`${recordingsUrl(conversationId)}/${must(recording.id, 'id')}`)
    const headers = { authorization: `Bearer ${token}` }
    let preconditionFailures = 0
    const client = async () => {
      for (let cycle = 0; cycle < 20; cycle++) {
        for (let attempt = 0; ; attempt++) {
          // As a well-behaved client does: back off a random while after losing a race, longer after each loss.
          if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(1000, 4 * 2 ** attempt)))
          const read = await fetch(url, { headers })
          expect(read.status).toBe(200)
          const annotation = (await read.json()) as Annotation
          const write = await fetch(url, {
            method: 'PUT',
            headers: { ...headers, 'content-type': 'application/json', 'if-match': String(read.headers.get('etag')) },
            body: JSON.stringify({ name: annotation.name, description: String(Number(annotation.description) + 1) }),
          })
          await write.arrayBuffer()
          if (write.status === 200) break
          expect(write.status).toBe(412)
          preconditionFailures++
        }
      }
    }
    await Promise.all(Array.from({ length: 50 }, client))
    console.info(`50 clients x 20 read-modify-write cycles: 1000 updates, ${preconditionFailures} answered 412 and were retried`)
    const final = await fetch(url, { headers })
    expect(((await final.json()) as Annotation).description).toBe('1000')
    expect(await etagOf(`${recordingsUrl(conversationId)}/${must(recording.id, 'id')}`)).not.toBe(recordingETag)
  }, 240_000)
})
