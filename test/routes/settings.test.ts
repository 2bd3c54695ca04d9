import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Permission } from '../../src/auth/permissions.js'
import type { Recording } from '../../src/schemas/recording.js'
import type { RecordingSettings } from '../../src/schemas/settings.js'
import { SETTINGS_CACHE_MS } from '../../src/services/settings-service.js'
import { wav } from '../media.js'
import { createOrganization, createTestContext, expectErrorBody, ingest, recordingsUrl, type TestContext } from '../helpers.js'

const SETTINGS = '/api/v2/recording/settings'
const DEFAULTS = {
  maxSimultaneousStreams: 1,
  maxConfigurableScreenRecordingStreams: 5,
  regionalRecordingStorageEnabled: false,
  recordingPlaybackUrlTtl: 60,
  recordingBatchDownloadUrlTtl: 60,
  stopRecordingWhenOnlyExternalParticipants: false,
  maxAllowedRestorationsForOrg: 10000,
  remainingRestorationsAllowedForOrg: 10000,
}

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

/** A fresh organization and a token of it holding `permissions` (every settings permission unless given). */
async function organization(permissions?: Permission[]) {
  const id = await createOrganization(ctx, `settings-${randomUUID()}`)
  const token = await ctx.token(permissions ?? [
    'recording:settings:view', 'recording:settings:editScreenRecordings', 'recording:settings:editRegionalStorage',
    'recording:settings:editUrlExpiration', 'recording:settings:editConferenceRecording', 'recording:recording:add',
    'recording:recording:view',
  ], id)
  const as = (method: 'GET' | 'PUT', url: string, payload?: object) =>
    ctx.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) })
  return { id, token, as }
}

describe('GET /api/v2/recording/settings', () => {
  it('answers 404 while none are stored, and the stored defaults with createDefault=true', async () => {
    const org = await organization()
    expect(expectErrorBody(await org.as('GET', SETTINGS), 404).code).toBe('not.found')
    expectErrorBody(await org.as('GET', `${SETTINGS}?createDefault=false`), 404)
    const created = await org.as('GET', `${SETTINGS}?createDefault=true`)
    expect(created.statusCode, created.body).toBe(200)
    expect(created.json()).toEqual(DEFAULTS)
    // Stored: a plain GET finds them now.
    expect((await org.as('GET', SETTINGS)).json()).toEqual(DEFAULTS)
  })
})

describe('PUT /api/v2/recording/settings', () => {
  it('stores the members given, keeps the others, ignores read-only and unknown members, and GET answers the same', async () => {
    const org = await organization()
    const res = await org.as('PUT', SETTINGS, { recordingPlaybackUrlTtl: 15, regionalRecordingStorageEnabled: true, maxAllowedRestorationsForOrg: 3, surprise: 'x' })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toEqual({ ...DEFAULTS, recordingPlaybackUrlTtl: 15, regionalRecordingStorageEnabled: true })
    const again = await org.as('PUT', SETTINGS, { recordingBatchDownloadUrlTtl: 2, maxSimultaneousStreams: 5 })
    expect(again.json()).toEqual({ ...DEFAULTS, recordingPlaybackUrlTtl: 15, regionalRecordingStorageEnabled: true, recordingBatchDownloadUrlTtl: 2, maxSimultaneousStreams: 5 })
    expect((await org.as('GET', SETTINGS)).json()).toEqual(again.json())
  })

  it.each([
    ['recordingPlaybackUrlTtl', 1], ['recordingPlaybackUrlTtl', 61], ['recordingBatchDownloadUrlTtl', 0], ['recordingBatchDownloadUrlTtl', 120],
    ['recordingPlaybackUrlTtl', 5.5], ['recordingPlaybackUrlTtl', '10'], ['maxSimultaneousStreams', -1], ['regionalRecordingStorageEnabled', 'yes'],
  ])('refuses %s = %j with 400 naming the field, and stores nothing', async (field, value) => {
    const org = await organization()
    const body = expectErrorBody(await org.as('PUT', SETTINGS, { [field]: value }), 400)
    expect(body.details.map((d) => d.fieldName)).toContain(field)
    expect(body.message).toContain(field)
    expectErrorBody(await org.as('GET', SETTINGS), 404)
  })

  it('refuses more simultaneous streams than the configurable maximum, naming maxSimultaneousStreams', async () => {
    const org = await organization()
    const body = expectErrorBody(await org.as('PUT', SETTINGS, { maxSimultaneousStreams: 6 }), 400)
    expect(body.details.map((d) => d.fieldName)).toEqual(['maxSimultaneousStreams'])
    expect((await org.as('PUT', SETTINGS, { maxSimultaneousStreams: 6, maxConfigurableScreenRecordingStreams: 6 })).statusCode).toBe(200)
  })

  it('answers 400 to a PUT without a body', async () => {
    const org = await organization()
    const res = await ctx.app.inject({ method: 'PUT', url: SETTINGS, headers: { authorization: `Bearer ${org.token}`, 'content-type': 'application/json' } })
    expectErrorBody(res, 400)
  })

  it('needs the permission of each member it changes; members sent back unchanged need none', async () => {
    const org = await organization()
    await org.as('PUT', SETTINGS, { recordingPlaybackUrlTtl: 30 })
    const onlyRegional = await ctx.token(['recording:settings:editRegionalStorage', 'recording:settings:view'], org.id)
    const put = (payload: object) => ctx.app.inject({ method: 'PUT', url: SETTINGS, headers: { authorization: `Bearer ${onlyRegional}` }, payload })
    const refused = expectErrorBody(await put({ recordingPlaybackUrlTtl: 10, regionalRecordingStorageEnabled: true }), 403)
    expect(refused.code).toBe('missing.permissions')
    expect(refused.message).toContain('recording:settings:editUrlExpiration')
    expect((await org.as('GET', SETTINGS)).json()).toMatchObject({ recordingPlaybackUrlTtl: 30, regionalRecordingStorageEnabled: false })
    // The whole object as read, with only its own member changed: allowed.
    const read = (await org.as('GET', SETTINGS)).json<RecordingSettings>()
    const res = await put({ ...read, regionalRecordingStorageEnabled: true })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({ recordingPlaybackUrlTtl: 30, regionalRecordingStorageEnabled: true })
  })

  it("changes only the caller's organization", async () => {
    const a = await organization()
    const b = await organization()
    await b.as('PUT', SETTINGS, { recordingPlaybackUrlTtl: 45 })
    expect((await a.as('PUT', SETTINGS, { recordingPlaybackUrlTtl: 3, stopRecordingWhenOnlyExternalParticipants: true })).statusCode).toBe(200)
    expect((await b.as('GET', SETTINGS)).json()).toEqual({ ...DEFAULTS, recordingPlaybackUrlTtl: 45 })
    expect((await a.as('GET', SETTINGS)).json()).toEqual({ ...DEFAULTS, recordingPlaybackUrlTtl: 3, stopRecordingWhenOnlyExternalParticipants: true })
    expect(await ctx.app.services.settings.playbackUrlTtlMinutes(b.id)).toBe(45)
  })
})

describe('recordingPlaybackUrlTtl', () => {
  /** The expiry (unix seconds) of the playback URL of a recording's stored media, as GET answers it. */
  async function playbackExpiry(org: Awaited<ReturnType<typeof organization>>, recording: Recording): Promise<number> {
    const res = await org.as('GET', `${recordingsUrl(recording.conversationId ?? '')}/${recording.id}?formatId=WAV`)
    expect(res.statusCode, res.body).toBe(200)
    const uri = res.json<Recording>().mediaUris?.S?.mediaUri
    return Number(new URL(uri ?? 'x:').searchParams.get('expires'))
  }

  it('a PUT of 5 makes new mediaUris expire within 5 minutes; other organizations keep 60', async () => {
    const org = await organization()
    const other = await organization()
    const upload = async (o: typeof org) => {
      const inject = (options: Parameters<TestContext['inject']>[0]) => ctx.app.inject({ ...options, headers: { authorization: `Bearer ${o.token}`, ...options.headers } })
      const recording = await ingest({ inject }, randomUUID(), { name: 'call', media: 'audio' })
      const put = await inject({ method: 'PUT', url: `${recordingsUrl(recording.conversationId ?? '')}/${recording.id}/media`, payload: wav(0.1), headers: { 'content-type': 'audio/wav' } })
      expect(put.statusCode, put.body).toBe(200)
      return recording
    }
    const mine = await upload(org)
    const theirs = await upload(other)
    const minutesLeft = async (o: typeof org, r: Recording) => ((await playbackExpiry(o, r)) * 1000 - Date.now()) / 60_000
    expect(await minutesLeft(org, mine)).toBeGreaterThan(58)

    expect((await org.as('PUT', SETTINGS, { recordingPlaybackUrlTtl: 5 })).statusCode).toBe(200)
    const left = await minutesLeft(org, mine)
    expect(left).toBeLessThanOrEqual(5)
    expect(left).toBeGreaterThan(3.9)
    expect(await minutesLeft(other, theirs)).toBeGreaterThan(58)
  })

  it('is read from the database at most every 10 seconds per instance: a change through another instance arrives within that', async () => {
    const org = await organization()
    const { settings } = ctx.app.services
    expect(await settings.playbackUrlTtlMinutes(org.id)).toBe(60)
    // Another instance's change: the row as that instance writes it.
    await ctx.sql.query('INSERT INTO recording_settings (organization_id, recording_playback_url_ttl) VALUES ($1, 7)', [org.id])
    expect(await settings.playbackUrlTtlMinutes(org.id)).toBe(60)
    const second = await createTestContext({}, { databaseUrl: ctx.databaseUrl })
    try {
      expect(await second.app.services.settings.playbackUrlTtlMinutes(org.id)).toBe(7)
    } finally {
      await second.close()
    }
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + SETTINGS_CACHE_MS + 1 })
    try {
      expect(await settings.playbackUrlTtlMinutes(org.id)).toBe(7)
    } finally {
      vi.useRealTimers()
    }
  })
})
