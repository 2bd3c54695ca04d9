import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import type { Recording } from '../../src/schemas/recording.js'
import { WAVEFORM_POINTS } from '../../src/media/ffmpeg.js'
import { EXPECTED, makeMedia, probe } from '../ffmpeg.js'
import { wav } from '../media.js'
import { createTestContext, eventually, ingest, recordingsUrl, type TestContext } from '../helpers.js'

let ctx: TestContext
/** An instance that runs no jobs (on a database of its own): what it queues stays queued, to be counted. */
let idle: TestContext
const conversationId = randomUUID()
const FORMATS = ['MP3', 'OGG_VORBIS', 'OGG_OPUS', 'WAV_ULAW', 'WEBM'] as const

type Answer = { statusCode: number; json: <T>() => T; body: string; headers: Record<string, unknown> }

/** A recording of `conversation` with `bytes` uploaded as its media. */
async function withMedia(bytes: Buffer, contentType: string, on: TestContext = ctx, conversation = conversationId): Promise<string> {
  const recording = await ingest(on, conversation, { name: 'call', media: contentType.startsWith('video/') ? 'screen' : 'audio' })
  const put = await on.inject({ method: 'PUT', url: `${recordingsUrl(conversation)}/${recording.id}/media`, payload: bytes, headers: { 'content-type': contentType } })
  expect(put.statusCode, put.body).toBe(200)
  return recording.id as string
}

const get = (id: string, query: string, on: TestContext = ctx): Promise<Answer> =>
  on.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${id}?${query}` })

/** Asks until the answer is no longer 202 (the rendition is made, or failed); answers the last one. */
async function whenMade(id: string, query: string): Promise<Answer> {
  let answer = await get(id, query)
  await eventually(async () => {
    answer = await get(id, query)
    return answer.statusCode !== 202
  }, `the rendition of ${query} is made`, 25_000)
  return answer
}

/** The bytes behind a mediaUri (played without a bearer token). */
async function play(mediaUri: string | undefined): Promise<{ bytes: Buffer; contentType: string }> {
  const url = new URL(mediaUri ?? '')
  const res = await ctx.app.inject({ method: 'GET', url: `${url.pathname}${url.search}` })
  expect(res.statusCode).toBe(200)
  return { bytes: res.rawPayload, contentType: String(res.headers['content-type']) }
}

const mediaFiles = async () =>
  (await readdir(path.join(ctx.config.DATA_DIR, 'media'), { recursive: true, withFileTypes: true }).catch(() => []))
    .filter((entry) => entry.isFile() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)

beforeAll(async () => {
  ctx = await createTestContext()
  idle = await createTestContext({ JOB_CONCURRENCY: '0' })
})
afterAll(async () => {
  await idle?.close()
  await ctx?.close()
})

describe('renditions on request (formatId, mediaFormats)', () => {
  let original: string
  const seconds = 3.2
  beforeAll(async () => {
    original = await withMedia(wav(seconds), 'audio/wav')
  })

  it.each(FORMATS)('makes %s from the stored original: 202 without mediaUris and with estimatedTranscodeTimeMs, then 200 with media that probes as the format and plays as long (±50 ms)', async (format) => {
    const first = await get(original, `formatId=${format}`)
    expect(first.statusCode, first.body).toBe(202)
    const waiting = first.json<Recording>()
    expect(waiting).not.toHaveProperty('mediaUris')
    expect(waiting.estimatedTranscodeTimeMs).toBeGreaterThan(0)
    expect(waiting.fileState).toBe('AVAILABLE')

    const made = await whenMade(original, `formatId=${format}`)
    expect(made.statusCode, made.body).toBe(200)
    const recording = made.json<Recording>()
    const { bytes, contentType } = await play(recording.mediaUris?.S?.mediaUri)
    const probed = await probe(bytes)
    const expected = EXPECTED[format] ?? { container: '?', codec: '?' }
    expect(probed.container).toBe(expected.container)
    expect(probed.audio?.codec).toBe(expected.codec)
    if (expected.sampleRate) expect(probed.audio?.sampleRate).toBe(expected.sampleRate)
    expect(Math.abs(probed.decodedMs - seconds * 1000)).toBeLessThanOrEqual(50)
    expect(contentType).toMatch(/^audio\//)
    // The transcode figures are the rendition's.
    expect(recording.actualTranscodeTimeMs).toBeGreaterThanOrEqual(0)
    expect(recording.outputSizeInBytes).toBe(bytes.length)
    expect(Math.abs((recording.outputDurationMs ?? 0) - seconds * 1000)).toBeLessThanOrEqual(50)
    expect(recording).not.toHaveProperty('estimatedTranscodeTimeMs')
  })

  it('keeps each rendition and reuses it: asked again, 200 at once with the same bytes, no new transcode', async () => {
    const made = await whenMade(original, 'formatId=MP3')
    const again = await get(original, 'formatId=MP3')
    expect(again.statusCode).toBe(200)
    const path = (answer: Answer) => new URL(answer.json<Recording>().mediaUris?.S?.mediaUri ?? '').pathname
    expect(path(again)).toBe(path(made))
    const { rows } = await ctx.sql.query("SELECT format FROM renditions WHERE recording_id = $1 AND format = 'MP3'", [original])
    expect(rows).toHaveLength(1)
  })

  it('takes the first of mediaFormats it can answer at once, the original when it is one of them, else makes the first', async () => {
    // The original is a 16-bit WAV: listed, it is answered as it is.
    const asStored = await get(original, 'mediaFormats=OGG_OPUS,WAV')
    expect(asStored.statusCode).toBe(200)
    expect(asStored.json<Recording>().mediaUris?.S?.mediaUri).toMatch(/\/S\.wav\?/)
    // MP3 is made already (above): answered before a WEBM not made yet.
    const other = await withMedia(wav(1), 'audio/wav')
    await whenMade(other, 'formatId=MP3')
    const ready = await get(other, 'mediaFormats=OGG_VORBIS,MP3')
    expect(ready.statusCode).toBe(200)
    expect((await probe((await play(ready.json<Recording>().mediaUris?.S?.mediaUri)).bytes)).audio?.codec).toBe('mp3')
    const { rows } = await ctx.sql.query('SELECT format FROM renditions WHERE recording_id = $1 ORDER BY format', [other])
    // Nothing was made for OGG_VORBIS: an available format was.
    expect(rows.map((row) => row.format)).toEqual(['MP3'])
  })

  it('defaults to WEBM, as Genesys does; NONE gives no mediaUris and makes nothing', async () => {
    const id = await withMedia(wav(1), 'audio/wav')
    const none = await get(id, 'formatId=NONE')
    expect(none.statusCode).toBe(200)
    expect(none.json()).not.toHaveProperty('mediaUris')
    expect((await ctx.sql.query('SELECT 1 FROM renditions WHERE recording_id = $1', [id])).rows).toEqual([])
    const plain = await whenMade(id, '')
    expect(plain.statusCode).toBe(200)
    expect((await probe((await play(plain.json<Recording>().mediaUris?.S?.mediaUri)).bytes)).container).toBe('matroska,webm')
  })

  it('makes WAV from another format (an MP3 original)', async () => {
    const id = await withMedia(await makeMedia(2, 'mp3', ['-c:a', 'libmp3lame']), 'audio/mpeg')
    const made = await whenMade(id, 'formatId=WAV')
    const probed = await probe((await play(made.json<Recording>().mediaUris?.S?.mediaUri)).bytes)
    expect([probed.container, probed.audio?.codec]).toEqual(['wav', 'pcm_s16le'])
    expect(Math.abs(probed.decodedMs - 2000)).toBeLessThanOrEqual(50)
  })

  it('makes WEBM of a screen recording with VP8 video and Opus audio', async () => {
    const id = await withMedia(await makeMedia(2, 'mp4', ['-c:v', 'mpeg4', '-c:a', 'aac'], { video: true }), 'video/mp4')
    const made = await whenMade(id, 'formatId=WEBM')
    const { bytes, contentType } = await play(made.json<Recording>().mediaUris?.S?.mediaUri)
    const probed = await probe(bytes)
    expect([probed.container, probed.video?.codec, probed.audio?.codec]).toEqual(['matroska,webm', 'vp8', 'opus'])
    expect(contentType).toBe('video/webm')
    expect(Math.abs(probed.decodedMs - 2000)).toBeLessThanOrEqual(50)
  })

  it('concurrent requests for one rendition start one transcode', async () => {
    const id = await withMedia(wav(1), 'audio/wav', idle)
    const answers = await Promise.all(Array.from({ length: 8 }, () => get(id, 'formatId=OGG_VORBIS', idle)))
    expect(answers.map((answer) => answer.statusCode)).toEqual(Array(8).fill(202))
    const { rows } = await idle.sql.query(`SELECT count(*)::int AS n FROM graphile_worker._private_jobs j
      JOIN graphile_worker._private_tasks t ON t.id = j.task_id WHERE t.identifier = 'media.transcode' AND j.payload->>'recordingId' = $1`, [id])
    expect(rows[0].n).toBe(1)
  })
})

describe('the list of a conversation', () => {
  it('waits up to maxWaitMs for renditions (200 with every one), and answers 202 without them when told not to wait', async () => {
    const conversation = randomUUID()
    const ids = [await withMedia(wav(1), 'audio/wav', ctx, conversation), await withMedia(wav(1.5), 'audio/wav', ctx, conversation)]
    const hurried = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversation)}?formatId=OGG_OPUS&maxWaitMs=0` })
    expect(hurried.statusCode).toBe(202)
    for (const recording of hurried.json<Recording[]>()) {
      expect(recording).not.toHaveProperty('mediaUris')
      expect(recording.estimatedTranscodeTimeMs).toBeGreaterThan(0)
    }
    const waited = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversation)}?formatId=OGG_OPUS&maxWaitMs=10000` })
    expect(waited.statusCode, waited.body).toBe(200)
    const listed = waited.json<Recording[]>()
    expect(listed.map((recording) => recording.id)).toEqual(ids)
    for (const recording of listed) expect((await probe((await play(recording.mediaUris?.S?.mediaUri)).bytes)).audio?.codec).toBe('opus')
  })
})

describe('media ffmpeg cannot read', () => {
  it('fails the rendition with TRANSCODING_FAILED (200, no mediaUris), never a stuck 202; the metadata stays readable', async () => {
    // An Ogg Vorbis file whose first page is whole and the rest noise: it passes the type check, not the decoder.
    const real = await makeMedia(2, 'ogg', ['-c:a', 'libvorbis'])
    const noise = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7919 + 13) % 251))
    const id = await withMedia(Buffer.concat([real.subarray(0, 58), noise]), 'audio/ogg')
    const failed = await whenMade(id, 'formatId=MP3')
    expect(failed.statusCode).toBe(200)
    const recording = failed.json<Recording>()
    expect(recording.recordingErrorStatus).toBe('TRANSCODING_FAILED')
    expect(recording).not.toHaveProperty('mediaUris')
    const { rows } = await ctx.sql.query("SELECT state, error FROM renditions WHERE recording_id = $1 AND format = 'MP3'", [id])
    expect(rows[0]).toMatchObject({ state: 'FAILED', error: expect.stringMatching(/^ffmpeg could not read the media: /) })
    expect(rows[0].error).not.toContain(ctx.config.DATA_DIR)
    // Another format is another attempt; metadata without media is fine.
    expect((await get(id, 'formatId=NONE')).json()).not.toHaveProperty('recordingErrorStatus')
  })
})

describe('waveforms', () => {
  it(`are computed once per original: up to ${WAVEFORM_POINTS} peaks in 0..1, silence low and the tone high, in every MediaResult`, async () => {
    // One second of silence, then one of the tone (amplitude 8000 of 32767).
    const silence = wav(1)
    const samples = silence.subarray(44)
    samples.fill(0)
    const tone = wav(1).subarray(44)
    const media = Buffer.concat([silence.subarray(0, 44), samples, tone])
    media.writeUInt32LE(36 + samples.length + tone.length, 4)
    media.writeUInt32LE(samples.length + tone.length, 40)
    const id = await withMedia(media, 'audio/wav')
    let waveform: number[] | undefined
    await eventually(async () => {
      waveform = (await get(id, 'formatId=WAV')).json<Recording>().mediaUris?.S?.waveformData
      return waveform !== undefined
    }, 'the waveform is computed')
    const points = waveform ?? []
    expect(points.length).toBeGreaterThan(100)
    expect(points.length).toBeLessThanOrEqual(WAVEFORM_POINTS)
    expect(points.every((point) => point >= 0 && point <= 1)).toBe(true)
    const half = Math.floor(points.length / 2)
    expect(Math.max(...points.slice(0, half - 2))).toBeLessThan(0.01)
    expect(Math.min(...points.slice(half + 2))).toBeGreaterThan(0.2)
    expect(Math.max(...points.slice(half + 2))).toBeLessThan(0.3)
    // A rendition carries the waveform of its original.
    const made = await whenMade(id, 'formatId=MP3')
    expect(made.json<Recording>().mediaUris?.S?.waveformData).toEqual(points)
  })
})

describe('removal', () => {
  it("removes a recording's renditions with it: rows and bytes", async () => {
    const id = await withMedia(wav(1), 'audio/wav')
    const made = await whenMade(id, 'formatId=MP3')
    const name = path.basename(new URL(made.json<Recording>().mediaUris?.S?.mediaUri ?? '').pathname)
    expect(name).toMatch(/^MP3\.mp3$/)
    const { rows } = await ctx.sql.query<{ storage_key: string }>("SELECT storage_key FROM renditions WHERE recording_id = $1", [id])
    const file = path.basename(rows[0]?.storage_key ?? '')
    expect(await mediaFiles()).toContain(file)
    const deleted = await ctx.inject({ method: 'DELETE', url: `${recordingsUrl(conversationId)}/${id}` })
    expect(deleted.statusCode).toBe(204)
    expect((await ctx.sql.query('SELECT 1 FROM renditions WHERE recording_id = $1', [id])).rows).toEqual([])
    await eventually(async () => !(await mediaFiles()).includes(file), 'the rendition bytes are removed')
  })
})
