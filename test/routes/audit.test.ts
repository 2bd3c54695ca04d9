import { randomUUID } from 'node:crypto'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp, type App } from '../../src/app.js'
import { ALL_PERMISSIONS } from '../../src/auth/permissions.js'
import { loadConfig } from '../../src/config.js'
import { shippedMigrations } from '../../src/db/migrations.js'
import type { Annotation, Recording } from '../../src/schemas/recording.js'
import { createTestDatabase } from '../database.js'
import { audioRecording } from '../fixtures.js'
import { recordingsUrl } from '../helpers.js'

/** Every line the app logs, as written (JSON text), in order. */
const lines: string[] = []
let app: App
let client: { clientId: string; clientSecret: string }
let organizationId: string
let token: string
/** Every credential that went over the wire in this file: none may ever be logged. */
const secrets: string[] = []

const basic = (clientId: string, clientSecret: string) => `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`

beforeAll(async () => {
  const databaseUrl = await createTestDatabase(inject('testDatabase'))
  const config = loadConfig({ RATE_LIMIT_PER_MINUTE: '100000', TOKEN_RATE_LIMIT_PER_MINUTE: '100000' })
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) })
  app = await buildApp({ config, databaseUrl, migrations: await shippedMigrations(), logger })
  await app.ready()
  const created = await app.services.clients.create({ organization: 'audit-org', name: 'auditor', permissions: [...ALL_PERMISSIONS] })
  client = { clientId: created.clientId, clientSecret: created.clientSecret }
  secrets.push(created.clientSecret, basic(created.clientId, created.clientSecret).slice('Basic '.length))
  organizationId = (await app.prisma.organization.findUniqueOrThrow({ where: { name: 'audit-org' } })).id
  const res = await requestToken(basic(client.clientId, client.clientSecret))
  expect(res.statusCode, res.body).toBe(200)
  token = res.json<{ access_token: string }>().access_token
  remember(token)
})
afterAll(async () => {
  await app?.close()
})

function remember(accessToken: string) {
  // The whole token, and its signature alone (header and payload parts are not secret on their own).
  secrets.push(accessToken, accessToken.split('.')[2] as string)
}

const requestToken = (authorization?: string, form = 'grant_type=client_credentials') =>
  app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) },
    payload: form,
  })

const api = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object, bearer = token) =>
  app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${bearer}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
    ...(payload ? { payload: JSON.stringify(payload) } : {}),
  })

interface LogEntry {
  level: number
  msg: string
  reqId?: string
  audit?: Record<string, unknown>
}

/** The log lines written while `send` ran (and the request's completion line after it). */
async function logged(send: () => Promise<LightMyRequestResponse>) {
  const start = lines.length
  const res = await send()
  await new Promise((resolve) => setImmediate(resolve))
  const entries = lines.slice(start).map((line) => JSON.parse(line) as LogEntry)
  return { res, entries, audits: entries.filter((entry) => entry.audit !== undefined || entry.msg === 'audit') }
}

/** Runs a change, expects `status`, and returns its one audit entry, checked against `expected`. */
async function audited(send: () => Promise<LightMyRequestResponse>, status: number, expected: Record<string, unknown>) {
  const { res, audits, entries } = await logged(send)
  expect(res.statusCode, res.body).toBe(status)
  expect(audits, JSON.stringify(entries)).toHaveLength(1)
  const [entry] = audits as [LogEntry]
  expect(entry.msg).toBe('audit')
  expect(entry.level).toBe(30) // info
  // Traceable to the request: the id every answer carries.
  expect(entry.reqId).toBe(res.headers['inin-correlation-id'])
  expect(entry.audit).toEqual({ organizationId, clientId: client.clientId, ...expected })
  return res
}

describe('audit log of changes', () => {
  it('logs one token.issue line per issued token, for HTTP Basic and for form credentials', async () => {
    const viaBasic = await audited(() => requestToken(basic(client.clientId, client.clientSecret)), 200, { action: 'token.issue' })
    remember(viaBasic.json<{ access_token: string }>().access_token)
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret })
    const viaForm = await audited(() => requestToken(undefined, form.toString()), 200, { action: 'token.issue' })
    remember(viaForm.json<{ access_token: string }>().access_token)
  })

  it('logs one line per change of a recording and its annotations, with the ids it touched', async () => {
    const conversationId = randomUUID()
    const created = await audited(() => api('POST', recordingsUrl(conversationId), audioRecording), 201, { action: 'recording.create', conversationId, recordingId: expect.any(String) })
    const recording = created.json<Recording>()
    const recordingId = recording.id as string
    const url = `${recordingsUrl(conversationId)}/${recordingId}`
    const ids = { conversationId, recordingId }

    const retention = { archiveDate: '2035-01-01T00:00:00.000Z', deleteDate: '2036-01-01T00:00:00.000Z' }
    await audited(() => api('PUT', url, retention), 200, { action: 'recording.updateRetention', ...ids, ...retention })

    const added = await audited(() => api('POST', `${url}/annotations`, { name: 'added', location: 10 }), 200, { action: 'annotation.create', ...ids, annotationId: expect.any(String) })
    const annotationId = added.json<Annotation>().id as string
    const annotationIds = { ...ids, annotationId }

    await audited(() => api('POST', `${url}/annotations`, { id: annotationId, name: 'upserted' }), 200, { action: 'annotation.update', ...annotationIds })
    await audited(() => api('PUT', `${url}/annotations/${annotationId}`, { name: 'edited' }), 200, { action: 'annotation.update', ...annotationIds })
    const chosenId = randomUUID()
    await audited(() => api('PUT', `${url}/annotations/${chosenId}`, { name: 'created by PUT' }), 200, { action: 'annotation.create', ...ids, annotationId: chosenId })
    await audited(() => api('DELETE', `${url}/annotations/${annotationId}`), 204, { action: 'annotation.delete', ...annotationIds })
    await audited(() => api('DELETE', url), 204, { action: 'recording.delete', ...ids })
  })

  it('the recording.create line names the stored recording', async () => {
    const conversationId = randomUUID()
    const { res, audits } = await logged(() => api('POST', recordingsUrl(conversationId), { media: 'chat' }))
    expect(res.statusCode).toBe(201)
    expect(audits.map((entry) => entry.audit?.recordingId)).toEqual([res.json<Recording>().id])
  })
})

describe('what is not audited', () => {
  let conversationId: string
  let url: string
  let annotation: Annotation
  let system: Annotation
  beforeAll(async () => {
    conversationId = randomUUID()
    const res = await api('POST', recordingsUrl(conversationId), audioRecording)
    expect(res.statusCode).toBe(201)
    const recording = res.json<Recording>()
    url = `${recordingsUrl(conversationId)}/${recording.id}`
    annotation = recording.annotations?.find((a) => a.reason === undefined) as Annotation
    system = recording.annotations?.find((a) => a.reason !== undefined) as Annotation
  })

  it('reads produce no audit line', async () => {
    const reads = [
      () => api('GET', recordingsUrl(conversationId)),
      () => api('GET', url),
      () => api('GET', `${url}/annotations`),
      () => api('GET', `${url}/annotations/${annotation.id}`),
      () => api('GET', `/api/v2/conversations/${conversationId}/recordingmetadata`),
      () => api('GET', `/api/v2/conversations/${conversationId}/recordingmetadata/${url.split('/').pop()}`),
      () => app.inject({ method: 'GET', url: '/health/live' }),
      () => app.inject({ method: 'GET', url: '/health/ready' }),
      () => app.inject({ method: 'GET', url: '/openapi.json' }),
    ]
    for (const read of reads) {
      const { res, audits, entries } = await logged(read)
      expect(res.statusCode, `${res.body.slice(0, 200)}`).toBe(200)
      expect(audits).toEqual([])
      // Each read is still logged once as a request.
      expect(entries.filter((entry) => entry.msg === 'request completed')).toHaveLength(1)
    }
  })

  it('refused changes produce no audit line', async () => {
    const viewer = await app.tokens.issue({ clientId: 'viewer', name: 'viewer', organizationId, permissions: ['recording:recording:view'] })
    remember(viewer)
    const tampered = `${token.slice(0, -4)}AAAA`
    secrets.push(tampered)
    const refused: [string, () => Promise<LightMyRequestResponse>, number][] = [
      ['invalid ingest', () => api('POST', recordingsUrl(randomUUID()), { bogus: true }), 400],
      ['ingest without permission', () => api('POST', recordingsUrl(randomUUID()), { media: 'chat' }, viewer), 403],
      ['ingest with a tampered token', () => api('POST', recordingsUrl(randomUUID()), { media: 'chat' }, tampered), 401],
      ['retention in the past', () => api('PUT', url, { deleteDate: '2001-01-01T00:00:00.000Z' }), 400],
      ['retention of an unknown recording', () => api('PUT', `${recordingsUrl(conversationId)}/${randomUUID()}`, {}), 404],
      ['delete of a system annotation', () => api('DELETE', `${url}/annotations/${system.id}`), 400],
      ['delete of an unknown annotation', () => api('DELETE', `${url}/annotations/${randomUUID()}`), 404],
      ['delete without permission', () => api('DELETE', url, undefined, viewer), 403],
      ['delete of an unknown recording', () => api('DELETE', `${recordingsUrl(conversationId)}/${randomUUID()}`), 404],
      ['token with a wrong secret', () => requestToken(basic(client.clientId, 'wrong-secret-for-the-audit-test')), 401],
      ['token for an unknown client', () => requestToken(basic('no-such-client', 'another-wrong-secret-value')), 401],
    ]
    secrets.push('wrong-secret-for-the-audit-test', 'another-wrong-secret-value')
    for (const [label, send, status] of refused) {
      const { res, audits } = await logged(send)
      expect(res.statusCode, `${label}: ${res.body.slice(0, 200)}`).toBe(status)
      expect(audits, label).toEqual([])
    }
    // The recording is still there: nothing was changed.
    expect((await api('GET', url)).statusCode).toBe(200)
  })
})

describe('secrets in logs', () => {
  it('no log line carries a client secret, Basic credentials or an access token', async () => {
    // One more failed login through the form, so a secret sent in a body is covered too.
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: 'form-secret-that-is-wrong' })
    secrets.push('form-secret-that-is-wrong')
    expect((await requestToken(undefined, form.toString())).statusCode).toBe(401)
    await new Promise((resolve) => setImmediate(resolve))

    const text = lines.join('')
    expect(lines.length).toBeGreaterThan(20) // the capture works: every request above was logged
    expect(text).toContain(client.clientId) // who acted is logged...
    for (const secret of secrets) expect(text).not.toContain(secret) // ...but never how they proved it
    expect(text).not.toMatch(/bearer\s+ey/i)
    expect(text).not.toMatch(/basic\s+[A-Za-z0-9+/=]{8,}/i)
  })
})
