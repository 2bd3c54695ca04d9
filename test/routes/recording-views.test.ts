import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Recording, RecordingMetadata } from '../../src/schemas/recording.js'
import { audioRecording, chatRecording, emailRecording, messagingRecording } from '../fixtures.js'
import { createTestContext, expectErrorBody, ingest, recordingsUrl, rowCounts, type TestContext } from '../helpers.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

/** Renditions whose format comes from the key (WAV), from the extension (.webm, .mp3 before the query), or from nothing. */
const mediaUris = {
  WAV: { mediaUri: 'https://m/x.wav' },
  S: { mediaUri: 'https://m/x.webm' },
  other: { mediaUri: 'https://m/x.mp3?sig=1' },
  raw: { mediaUri: 'https://m/x.aac' },
}
const { WAV, S, other } = mediaUris

const metadataUrl = (conversationId: string) => `/api/v2/conversations/${conversationId}/recordingmetadata`

const getOne = (conversationId: string, id: string, query = '') =>
  ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${id}${query}` })
const getList = (conversationId: string, query = '') =>
  ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}${query}` })

function idOf(recording: Recording): string {
  if (!recording.id) throw new Error('recording without id')
  return recording.id
}

/** An AVAILABLE audio recording with the four renditions above, as ingested. */
async function arrangeAudio() {
  const conversationId = randomUUID()
  const recording = await ingest(ctx, conversationId, { ...audioRecording, mediaUris })
  expect(recording.fileState).toBe('AVAILABLE')
  expect(recording.mediaUris).toEqual(mediaUris)
  return { conversationId, recording, id: idOf(recording) }
}

const withoutMedia = ({ mediaUris: _dropped, ...rest }: Recording) => rest

describe('GET one: readiness', () => {
  it('answers 202 with the recording and no mediaUris while the media is uploading, 200 once available', async () => {
    const conversationId = randomUUID()
    const uploading = await ingest(ctx, conversationId, { media: 'audio' })
    expect(uploading.fileState).toBe('UPLOADING')
    const res = await getOne(conversationId, idOf(uploading))
    expect(res.statusCode, res.body).toBe(202)
    expect(res.json()).toEqual(uploading)
    expect(res.json()).not.toHaveProperty('mediaUris')

    const { conversationId: c2, recording, id } = await arrangeAudio()
    const ready = await getOne(c2, id)
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toEqual(recording)
  })

  it('holds back media links it already has while the file state is UPLOADING', async () => {
    const { conversationId, recording, id } = await arrangeAudio()
    await ctx.sql.query(`UPDATE recordings SET file_state = 'UPLOADING' WHERE id = $1`, [id])
    const res = await getOne(conversationId, id)
    expect(res.statusCode).toBe(202)
    expect(res.json()).toEqual({ ...withoutMedia(recording), fileState: 'UPLOADING' })

    const list = (await getList(conversationId)).json<Recording[]>()
    expect(list).toEqual([{ ...withoutMedia(recording), fileState: 'UPLOADING' }])

    await ctx.sql.query(`UPDATE recordings SET file_state = 'AVAILABLE' WHERE id = $1`, [id])
    const again = await getOne(conversationId, id)
    expect(again.statusCode).toBe(200)
    expect(again.json<Recording>().mediaUris).toEqual(mediaUris)
  })
})

describe('GET one: formatId and mediaFormats', () => {
  it('leaves mediaUris out for formatId=NONE, keeps them all for another format', async () => {
    const { conversationId, recording, id } = await arrangeAudio()
    const none = await getOne(conversationId, id, '?formatId=NONE')
    expect(none.statusCode).toBe(200)
    expect(none.json()).toEqual(withoutMedia(recording))
    for (const formatId of ['WAV', 'WEBM', 'MP3', 'OGG_OPUS']) {
      const res = await getOne(conversationId, id, `?formatId=${formatId}`)
      expect(res.statusCode).toBe(200)
      expect(res.json()).toEqual(recording)
    }
  })

  it.each([
    ['comma-joined, as the SDK sends it', '?mediaFormats=WAV,MP3'],
    ['repeated', '?mediaFormats=WAV&mediaFormats=MP3'],
    ['URL-encoded comma', '?mediaFormats=WAV%2CMP3'],
  ])('keeps only the renditions in the listed formats (%s)', async (_how, query) => {
    const { conversationId, recording, id } = await arrangeAudio()
    const res = await getOne(conversationId, id, query)
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toEqual({ ...recording, mediaUris: { WAV, other } })
  })

  it('tells a rendition format by key, else by the URI extension', async () => {
    const { conversationId, id } = await arrangeAudio()
    expect((await getOne(conversationId, id, '?mediaFormats=WEBM')).json<Recording>().mediaUris).toEqual({ S })
    expect((await getOne(conversationId, id, '?mediaFormats=MP3')).json<Recording>().mediaUris).toEqual({ other })
    expect((await getOne(conversationId, id, '?mediaFormats=WAV')).json<Recording>().mediaUris).toEqual({ WAV })
    expect((await getOne(conversationId, id, '?mediaFormats=WEBM,WAV,MP3')).json<Recording>().mediaUris).toEqual({ WAV, S, other })
  })

  it('leaves mediaUris out when no rendition is in the listed formats', async () => {
    const { conversationId, recording, id } = await arrangeAudio()
    for (const query of ['?mediaFormats=OGG_OPUS', '?mediaFormats=WAV_ULAW,OGG_VORBIS']) {
      const res = await getOne(conversationId, id, query)
      expect(res.statusCode).toBe(200)
      expect(res.json()).toEqual(withoutMedia(recording))
    }
  })
})

describe('GET one: transcript formats', () => {
  const everything = { ...chatRecording, emailTranscript: emailRecording.emailTranscript, messagingTranscript: messagingRecording.messagingTranscript }

  it.each([
    ['chatFormatId', 'transcript'],
    ['emailFormatId', 'emailTranscript'],
    ['messageFormatId', 'messagingTranscript'],
  ] as const)('%s=NONE leaves %s out and keeps the others', async (param, field) => {
    const conversationId = randomUUID()
    const recording = await ingest(ctx, conversationId, everything)
    const res = await getOne(conversationId, idOf(recording), `?${param}=NONE`)
    expect(res.statusCode).toBe(200)
    const { [field]: _dropped, ...rest } = recording
    expect(res.json()).toEqual(rest)
    expect(res.json()).not.toHaveProperty(field)
  })

  it('keeps every transcript with the default formats named explicitly', async () => {
    const conversationId = randomUUID()
    const recording = await ingest(ctx, conversationId, everything)
    const res = await getOne(conversationId, idOf(recording), '?chatFormatId=ZIP&emailFormatId=EML&messageFormatId=ZIP')
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual(recording)
    for (const field of ['transcript', 'emailTranscript', 'messagingTranscript']) expect(res.json()).toHaveProperty(field)
  })
})

describe('GET one: other options', () => {
  it.each([
    ['formatId=FLAC', 'formatId'],
    ['formatId=none', 'formatId'],
    ['mediaFormats=WAV,FLAC', 'mediaFormats'],
    ['mediaFormats=WAV&mediaFormats=FLAC', 'mediaFormats'],
    ['emailFormatId=PDF', 'emailFormatId'],
    ['chatFormatId=EML', 'chatFormatId'],
    ['messageFormatId=EML', 'messageFormatId'],
    ['download=maybe', 'download'],
    ['locale=english', 'locale'],
    [`fileName=${'f'.repeat(256)}`, 'fileName'],
  ])('answers 400 with an ErrorBody naming the parameter for %s', async (query, param) => {
    const { conversationId, id } = await arrangeAudio()
    const body = expectErrorBody(await getOne(conversationId, id, `?${query}`), 400)
    expect(body.code).toBe('bad.request')
    expect(body.message).toContain(param)
    expect(body.details[0]).toMatchObject({ in: 'querystring', fieldName: expect.stringMatching(new RegExp(`^${param}`)) })
  })

  it('treats empty values (the SDK sends null options that way) as absent', async () => {
    const { conversationId, recording, id } = await arrangeAudio()
    for (const query of ['?fileName=&locale=', '?formatId=&mediaFormats=&download=', '?chatFormatId=&emailFormatId=&messageFormatId=']) {
      const res = await getOne(conversationId, id, query)
      expect(res.statusCode, `${query}: ${res.body}`).toBe(200)
      expect(res.json()).toEqual(recording)
    }
  })

  it('accepts download, fileName and locale, answering the same body as without them', async () => {
    const { conversationId, recording, id } = await arrangeAudio()
    for (const query of ['?download=true&fileName=x.zip&locale=en', '?download=false', '?locale=pt-BR', '?locale=en_GB']) {
      const res = await getOne(conversationId, id, query)
      expect(res.statusCode, `${query}: ${res.body}`).toBe(200)
      expect(res.json()).toEqual(recording)
    }
  })
})

describe('GET list: options', () => {
  it('accepts maxWaitMs in range and refuses a negative or non-numeric one', async () => {
    const { conversationId, recording } = await arrangeAudio()
    for (const query of ['?maxWaitMs=1000', '?maxWaitMs=0', '?maxWaitMs=']) {
      const res = await getList(conversationId, query)
      expect(res.statusCode, `${query}: ${res.body}`).toBe(200)
      expect(res.json()).toEqual([recording])
    }
    for (const query of ['?maxWaitMs=-1', '?maxWaitMs=abc', '?maxWaitMs=1.5']) {
      const body = expectErrorBody(await getList(conversationId, query), 400)
      expect(body.message).toContain('maxWaitMs')
    }
  })

  it('supports formatId and mediaFormats like GET one, on every recording of the list', async () => {
    const conversationId = randomUUID()
    const first = await ingest(ctx, conversationId, { ...audioRecording, mediaUris })
    const second = await ingest(ctx, conversationId, { media: 'screen', mediaUris: { S } })
    const chat = await ingest(ctx, conversationId, chatRecording)

    const none = await getList(conversationId, '?formatId=NONE')
    expect(none.statusCode).toBe(200)
    expect(none.json()).toEqual([withoutMedia(first), withoutMedia(second), chat])

    for (const query of ['?mediaFormats=WAV,MP3', '?mediaFormats=WAV&mediaFormats=MP3']) {
      const res = await getList(conversationId, query)
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json()).toEqual([{ ...first, mediaUris: { WAV, other } }, withoutMedia(second), chat])
    }
    expect((await getList(conversationId, '?mediaFormats=WEBM')).json()).toEqual([{ ...first, mediaUris: { S } }, second, chat])

    for (const [query, param] of [['?formatId=FLAC', 'formatId'], ['?mediaFormats=WAV,FLAC', 'mediaFormats'], ['?locale=english', 'locale']]) {
      expect(expectErrorBody(await getList(conversationId, query), 400).message).toContain(param)
    }
  })

  it('copies the SecurePause annotations of audio recordings onto screen recordings with includePauseAnnotationsForScreenRecordings=true', async () => {
    const conversationId = randomUUID()
    const securePause = { reason: 'SecurePause', location: 5_000, durationMs: 3_000, type: 'pause' }
    const audio = await ingest(ctx, conversationId, {
      media: 'audio',
      mediaUris: { WAV },
      annotations: [
        securePause,
        { name: 'bookmark', type: 'bookmark', location: 1_000 },
        { type: 'hold', location: 20_000, durationMs: 4_000, reason: 'Hold' },
      ],
    })
    const screen = await ingest(ctx, conversationId, {
      media: 'screen',
      mediaUris: { S },
      annotations: [{ name: 'on screen', type: 'bookmark', location: 9_000 }],
    })
    const bareScreen = await ingest(ctx, conversationId, { media: 'screen', mediaUris: { S } })
    const pause = audio.annotations?.find((a) => a.reason === 'SecurePause')
    expect(pause).toMatchObject(securePause)

    for (const query of ['', '?includePauseAnnotationsForScreenRecordings=false']) {
      const res = await getList(conversationId, query)
      expect(res.statusCode).toBe(200)
      const [, screenRead, bareRead] = res.json<Recording[]>()
      expect(screenRead?.annotations?.map((a) => a.reason)).toEqual([undefined])
      expect(bareRead).not.toHaveProperty('annotations')
      expect(res.json()).toEqual([audio, screen, bareScreen])
    }

    const res = await getList(conversationId, '?includePauseAnnotationsForScreenRecordings=true')
    expect(res.statusCode).toBe(200)
    const [audioRead, screenRead, bareRead] = res.json<Recording[]>()
    expect(audioRead).toEqual(audio)
    // Only the secure pause is copied (no bookmark, no hold), in location order with the screen's own annotations.
    expect(screenRead).toEqual({ ...screen, annotations: [pause, ...(screen.annotations ?? [])] })
    expect(bareRead).toEqual({ ...bareScreen, annotations: [pause] })

    // Another conversation's screen recording does not get them.
    const elsewhere = randomUUID()
    const lonely = await ingest(ctx, elsewhere, { media: 'screen', mediaUris: { S } })
    expect((await getList(elsewhere, '?includePauseAnnotationsForScreenRecordings=true')).json()).toEqual([lonely])
    expectErrorBody(await getList(conversationId, '?includePauseAnnotationsForScreenRecordings=yes'), 400)
  })
})

describe('recording metadata', () => {
  const absent = [
    'transcript', 'emailTranscript', 'messagingTranscript', 'mediaUris', 'estimatedTranscodeTimeMs', 'actualTranscodeTimeMs',
    'outputDurationMs', 'outputSizeInBytes', 'users', 'recordingFileRole', 'recordingErrorStatus', 'originalRecordingStartTime',
    'creationTime', 'associatedConversationIds',
  ]

  /** What RecordingMetadata keeps of a recording: the shared fields, and client annotations only. */
  function expectedMetadata(recording: Recording): RecordingMetadata {
    const kept = Object.fromEntries(Object.entries(recording).filter(([field]) => !absent.includes(field) && field !== 'annotations'))
    const annotations = (recording.annotations ?? []).filter((a) => a.reason === undefined)
    return { ...kept, ...(annotations.length > 0 ? { annotations } : {}) }
  }

  async function arrangeConversation() {
    const conversationId = randomUUID()
    const audio = await ingest(ctx, conversationId, {
      ...audioRecording,
      transcript: chatRecording.transcript,
      emailTranscript: emailRecording.emailTranscript,
      messagingTranscript: messagingRecording.messagingTranscript,
    })
    // estimatedTranscodeTimeMs etc. are set by the fixture; recordingErrorStatus only by the system.
    await ctx.sql.query(`UPDATE recordings SET recording_error_status = 'EMAIL_TRANSCRIPT_TOO_LARGE' WHERE id = $1`, [audio.id])
    const chat = await ingest(ctx, conversationId, chatRecording)
    const onlySystem = await ingest(ctx, conversationId, { media: 'audio', annotations: [{ location: 10, durationMs: 5, reason: 'SecurePause' }] })
    return { conversationId, audio, chat, onlySystem }
  }

  it('lists the metadata of every recording as a bare array: no media, transcripts, transcode figures or users', async () => {
    const { conversationId, audio, chat, onlySystem } = await arrangeConversation()
    const full = (await getOne(conversationId, idOf(audio))).json<Recording>()
    expect(full.recordingErrorStatus).toBe('EMAIL_TRANSCRIPT_TOO_LARGE')
    for (const field of absent) expect(full, field).toHaveProperty(field) // so their absence below means something

    const res = await ctx.inject({ method: 'GET', url: metadataUrl(conversationId) })
    expect(res.statusCode, res.body).toBe(200)
    const list = res.json<RecordingMetadata[]>()
    expect(Array.isArray(list)).toBe(true)
    expect(list.map((m) => m.id)).toEqual([audio.id, chat.id, onlySystem.id])
    for (const metadata of list) {
      for (const field of absent) expect(metadata, field).not.toHaveProperty(field)
    }
    expect(list).toEqual([expectedMetadata(full), expectedMetadata(chat), expectedMetadata(onlySystem)])
    // Spot checks of what stays, so the expectation above cannot pass vacuously.
    expect(list[0]).toMatchObject({ name: audioRecording.name, path: audioRecording.path, sessionId: audioRecording.sessionId, fileState: 'AVAILABLE', selfUri: audio.selfUri })
  })

  it('keeps client annotations and leaves system annotations (with a reason) out', async () => {
    const { conversationId, audio, onlySystem } = await arrangeConversation()
    const added = await ctx.inject({ method: 'POST', url: `${recordingsUrl(conversationId)}/${audio.id}/annotations`, payload: { name: 'later', location: 70_000 } })
    expect(added.statusCode).toBe(200)
    const greeting = audio.annotations?.find((a) => a.name === 'greeting')
    expect(audio.annotations?.some((a) => a.reason === 'Hold')).toBe(true)

    const one = (await ctx.inject({ method: 'GET', url: `${metadataUrl(conversationId)}/${audio.id}` })).json<RecordingMetadata>()
    expect(one.annotations).toEqual([greeting, added.json()])
    const list = (await ctx.inject({ method: 'GET', url: metadataUrl(conversationId) })).json<RecordingMetadata[]>()
    expect(list[0]?.annotations).toEqual([greeting, added.json()])
    expect(list[2]?.annotations ?? []).toEqual([])
    const bare = (await ctx.inject({ method: 'GET', url: `${metadataUrl(conversationId)}/${onlySystem.id}` })).json<RecordingMetadata>()
    expect(bare.annotations ?? []).toEqual([])
    // The full recording still carries them.
    expect((await getOne(conversationId, idOf(onlySystem))).json<Recording>().annotations).toHaveLength(1)
  })

  it('answers one recording the same as its list entry', async () => {
    const { conversationId, audio, chat, onlySystem } = await arrangeConversation()
    const list = (await ctx.inject({ method: 'GET', url: metadataUrl(conversationId) })).json<RecordingMetadata[]>()
    for (const [index, recording] of [audio, chat, onlySystem].entries()) {
      const res = await ctx.inject({ method: 'GET', url: `${metadataUrl(conversationId)}/${recording.id}` })
      expect(res.statusCode).toBe(200)
      expect(res.json()).toEqual(list[index])
    }
  })

  it('answers 200, not 202, for a recording whose media is uploading', async () => {
    const conversationId = randomUUID()
    const uploading = await ingest(ctx, conversationId, { media: 'audio' })
    const res = await ctx.inject({ method: 'GET', url: `${metadataUrl(conversationId)}/${uploading.id}` })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ id: uploading.id, fileState: 'UPLOADING' })
  })

  it('answers 404 for an unknown conversation, an unknown or non-UUID id, and a recording of another conversation', async () => {
    const { conversationId, audio } = await arrangeConversation()
    const before = await rowCounts(ctx.sql)
    const list = expectErrorBody(await ctx.inject({ method: 'GET', url: metadataUrl(randomUUID()) }), 404)
    expect(list).toMatchObject({ code: 'not.found', entityName: 'Conversation' })
    for (const [conversation, id] of [
      [conversationId, randomUUID()],
      [conversationId, 'not-a-uuid'],
      [randomUUID(), idOf(audio)],
    ] as const) {
      const body = expectErrorBody(await ctx.inject({ method: 'GET', url: `${metadataUrl(conversation)}/${id}` }), 404)
      expect(body).toMatchObject({ code: 'not.found', entityName: 'Recording', entityId: id })
    }
    expect(await rowCounts(ctx.sql)).toEqual(before)
    expect((await ctx.inject({ method: 'GET', url: `${metadataUrl(conversationId)}/${audio.id}` })).statusCode).toBe(200)
  })
})
