import { randomUUID } from 'node:crypto'
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALL_PERMISSIONS, type Permission } from '../../src/auth/permissions.js'
import type { Recording } from '../../src/schemas/recording.js'
import type { Policy } from '../../src/schemas/retention-policies.js'
import { POLICY_PATHS, type PolicyFamily } from '../../src/services/retention-policy-service.js'
import { audioRecording } from '../fixtures.js'
import { createOrganization, createTestContext, eventually, expectErrorBody, ingest, recordingsUrl, type TestContext } from '../helpers.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({ RETENTION_SWEEP_SECONDS: '1' })
})
afterAll(async () => {
  await ctx?.close()
})

const DAY = 86_400_000
const FAMILIES: PolicyFamily[] = ['classic', 'crossplatform']

/**
 * An organization of its own for each test: policies apply to every ingest of their organization, so tests must not
 * share one.
 */
async function tenant(permissions: readonly Permission[] = ALL_PERMISSIONS) {
  const organizationId = await createOrganization(ctx, `policies-${randomUUID()}`)
  const token = await ctx.token(permissions, organizationId)
  const inject = (options: InjectOptions) => ctx.app.inject({ ...options, headers: { authorization: `Bearer ${token}`, ...options.headers } })
  return { organizationId, inject }
}
type Tenant = Awaited<ReturnType<typeof tenant>>

async function created(on: Tenant, body: object, family: PolicyFamily = 'classic'): Promise<Policy> {
  const res = await on.inject({ method: 'POST', url: POLICY_PATHS[family], payload: body })
  expect(res.statusCode, res.body).toBe(200)
  return res.json<Policy>()
}

/** A policy that archives and deletes every recording of the media policy `key` after the days given. */
const keepFor = (name: string, days: { archive?: number; delete?: number }, key = 'callPolicy', conditions: object = {}) => ({
  name,
  enabled: true,
  mediaPolicies: {
    [key]: {
      conditions,
      actions: {
        retainRecording: true,
        retentionDuration: {
          ...(days.archive === undefined ? {} : { archiveRetention: { days: days.archive, storageMedium: 'CLOUDARCHIVE' } }),
          ...(days.delete === undefined ? {} : { deleteRetention: { days: days.delete } }),
        },
      },
    },
  },
})

const call = { name: 'call', media: 'audio', startTime: '2024-05-06T10:00:00.000Z', endTime: '2024-05-06T10:07:00.000Z' }

/** Ingests and answers the recording with the instants just before and after, to place policy dates between. */
async function ingested(on: Tenant, body: object) {
  const before = Date.now()
  const recording = await ingest(on, randomUUID(), body)
  return { recording, before, after: Date.now() }
}

/** Asserts `date` is `days` after the ingest. */
function expectDaysAfter(date: string | undefined, days: number, { before, after }: { before: number; after: number }) {
  expect(date, 'a date').toEqual(expect.any(String))
  const at = Date.parse(date ?? '')
  expect(at).toBeGreaterThanOrEqual(before + days * DAY)
  expect(at).toBeLessThanOrEqual(after + days * DAY)
}

describe.each(FAMILIES)('%s policies: create, read, replace, enable, delete', (family) => {
  const path = POLICY_PATHS[family]

  it('creates (200, disabled by default), gets, PUTs the whole policy, PATCHes enabled and deletes (204)', async () => {
    const on = await tenant()
    const body = {
      name: 'keep calls',
      description: 'all calls',
      order: 3,
      id: 'ignored',
      selfUri: 'ignored',
      createdDate: '2001-01-01T00:00:00.000Z',
      mediaPolicies: {
        callPolicy: {
          conditions: { forUsers: [{ id: 'u1', name: 'Ada' }], dateRanges: ['2024-01-01T00:00:00.000Z/2025-01-01T00:00:00.000Z'] },
          actions: { retainRecording: true, assignEvaluations: [{ evaluationForm: { id: 'f1' }, user: { id: 'u2' } }], retentionDuration: { deleteRetention: { days: 30 } } },
        },
      },
      conditions: { mediaTypes: ['CALL'] },
      actions: { integrationExport: { integration: { id: 'i1' }, shouldExportScreenRecordings: true } },
      unknownMember: 'dropped',
    }
    const policy = await created(on, body, family)
    expect(policy).toEqual({
      id: expect.any(String),
      name: 'keep calls',
      description: 'all calls',
      order: 3,
      enabled: false,
      createdDate: expect.any(String),
      modifiedDate: policy.createdDate,
      mediaPolicies: body.mediaPolicies,
      conditions: body.conditions,
      actions: body.actions,
      selfUri: `${path}/${policy.id}`,
    })
    expect(policy.id).not.toBe('ignored')
    expect(Date.parse(policy.createdDate ?? '')).toBeGreaterThan(Date.now() - 60_000)

    const got = await on.inject({ method: 'GET', url: `${path}/${policy.id}` })
    expect(got.statusCode).toBe(200)
    expect(got.json()).toEqual(policy)

    const put = await on.inject({ method: 'PUT', url: `${path}/${policy.id}`, payload: { ...policy, name: 'renamed', enabled: true, mediaPolicies: {} } })
    expect(put.statusCode, put.body).toBe(200)
    expect(put.json()).toMatchObject({ id: policy.id, name: 'renamed', enabled: true, mediaPolicies: {}, createdDate: policy.createdDate })
    expect(Date.parse(put.json<Policy>().modifiedDate ?? '')).toBeGreaterThanOrEqual(Date.parse(policy.modifiedDate ?? ''))

    // A PUT without a name keeps it.
    const unnamed = await on.inject({ method: 'PUT', url: `${path}/${policy.id}`, payload: { enabled: true } })
    expect(unnamed.json()).toMatchObject({ name: 'renamed', enabled: true })

    const patched = await on.inject({ method: 'PATCH', url: `${path}/${policy.id}`, payload: { enabled: false } })
    expect(patched.statusCode, patched.body).toBe(200)
    expect(patched.json()).toMatchObject({ id: policy.id, name: 'renamed', enabled: false })

    // The other family does not know it.
    const other = POLICY_PATHS[family === 'classic' ? 'crossplatform' : 'classic']
    expect(expectErrorBody(await on.inject({ method: 'GET', url: `${other}/${policy.id}` }), 404).code).toBe('not.found')

    const deleted = await on.inject({ method: 'DELETE', url: `${path}/${policy.id}` })
    expect(deleted.statusCode).toBe(204)
    expect(deleted.body).toBe('')
    expectErrorBody(await on.inject({ method: 'GET', url: `${path}/${policy.id}` }), 404)
    expectErrorBody(await on.inject({ method: 'DELETE', url: `${path}/${policy.id}` }), 404)
    expectErrorBody(await on.inject({ method: 'GET', url: `${path}/not-a-uuid` }), 404)
  })

  it('lists with paging, filters and sorting, in the PolicyEntityListing envelope', async () => {
    const on = await tenant()
    const c = await created(on, keepFor('charlie', { delete: 400 }), family)
    const a = await created(on, { name: 'alpha', enabled: false, actions: { retentionDuration: { deleteRetention: { days: 10 } } } }, family)
    const b = await created(on, { name: 'bravo', enabled: true, conditions: { forQueues: [{ id: 'q1' }] } }, family)
    const list = async (query: string) => {
      const res = await on.inject({ method: 'GET', url: `${path}${query}` })
      expect(res.statusCode, res.body).toBe(200)
      return res.json<{ entities: Policy[]; total: number; pageCount: number; pageSize: number; pageNumber: number; nextUri?: string; previousUri?: string; firstUri: string; lastUri: string; selfUri: string }>()
    }
    const names = async (query: string) => (await list(query)).entities.map((p) => p.name)

    const all = await list('')
    expect(all).toMatchObject({ total: 3, pageSize: 25, pageNumber: 1, pageCount: 1, firstUri: `${path}?pageSize=25&pageNumber=1` })
    expect(all.entities.map((p) => p.id)).toEqual([c.id, a.id, b.id])
    expect(all).not.toHaveProperty('nextUri')

    expect(await names('?sortBy=name')).toEqual(['alpha', 'bravo', 'charlie'])
    const second = await list('?sortBy=name&pageSize=2&pageNumber=2')
    expect(second).toMatchObject({ total: 3, pageCount: 2, pageNumber: 2, previousUri: `${path}?pageSize=2&pageNumber=1&sortBy=name` })
    expect(second.entities.map((p) => p.name)).toEqual(['charlie'])
    expect((await list('?sortBy=name&pageSize=2')).nextUri).toBe(`${path}?pageSize=2&pageNumber=2&sortBy=name`)
    expect((await list('?pageNumber=5')).entities).toEqual([])

    expect(await names('?name=RAV')).toEqual(['bravo'])
    expect(await names('?enabled=true&sortBy=name')).toEqual(['bravo', 'charlie'])
    expect(await names('?enabled=false')).toEqual(['alpha'])
    expect(await names('?hasErrors=true')).toEqual(['bravo'])
    expect(await names('?hasErrors=false&sortBy=name')).toEqual(['alpha', 'charlie'])
    expect(await names('?deleteDaysThreshold=30')).toEqual(['charlie'])
    expect(await names('?deleteDaysThreshold=5&sortBy=name')).toEqual(['alpha', 'charlie'])
    expect(await names('?deleteDaysThreshold=400')).toEqual([])
    expect(await names('?sortBy=dateModified&expand=x&nextPage=y')).toEqual(['charlie', 'alpha', 'bravo'])

    const summary = await list('?summary=true&name=charlie')
    expect(summary.entities).toEqual([{ id: c.id, name: 'charlie', enabled: true, createdDate: c.createdDate, modifiedDate: c.modifiedDate, selfUri: c.selfUri }])
  })

  it('deletes by ids (comma-separated, required): only the listed policies of this family and organization', async () => {
    const on = await tenant()
    const [one, two, three] = [await created(on, { name: 'one' }, family), await created(on, { name: 'two' }, family), await created(on, { name: 'three' }, family)]
    const otherFamily = await created(on, { name: 'other family' }, family === 'classic' ? 'crossplatform' : 'classic')
    const elsewhere = await tenant()
    const theirs = await created(elsewhere, { name: 'theirs' }, family)

    const ids = [one.id, three.id, otherFamily.id, theirs.id, randomUUID(), 'junk'].join(',')
    const res = await on.inject({ method: 'DELETE', url: `${path}?ids=${encodeURIComponent(ids)}` })
    expect(res.statusCode, res.body).toBe(204)
    expect((await on.inject({ method: 'GET', url: path })).json<{ entities: Policy[] }>().entities.map((p) => p.id)).toEqual([two.id])
    expect((await on.inject({ method: 'GET', url: `${POLICY_PATHS[family === 'classic' ? 'crossplatform' : 'classic']}/${otherFamily.id}` })).statusCode).toBe(200)
    expect((await elsewhere.inject({ method: 'GET', url: `${path}/${theirs.id}` })).statusCode).toBe(200)

    expect(expectErrorBody(await on.inject({ method: 'DELETE', url: path }), 400).details.map((d) => d.fieldName)).toContain('ids')
  })
})

describe('validation, permissions and organizations', () => {
  it.each([
    ['POST without name', 'POST', {}],
    ['an empty name', 'POST', { name: '' }],
    ['a media type outside the spec', 'POST', { name: 'x', conditions: { mediaTypes: ['EMAIL'] } }],
    ['negative days', 'POST', { name: 'x', actions: { retentionDuration: { deleteRetention: { days: -1 } } } }],
    ['days beyond a century', 'POST', { name: 'x', mediaPolicies: { callPolicy: { actions: { retentionDuration: { archiveRetention: { days: 36_501 } } } } } }],
    ['enabled that is not a boolean', 'POST', { name: 'x', enabled: 'yes' }],
    ['a time slot day 8', 'POST', { name: 'x', conditions: { timeAllowed: { timeSlots: [{ day: 8 }] } } }],
    ['a direction outside the spec', 'POST', { name: 'x', mediaPolicies: { callPolicy: { conditions: { directions: ['SIDEWAYS'] } } } }],
    ['PATCH enabled as a string', 'PATCH', { enabled: 'no' }],
  ])('answers 400 to %s and stores nothing', async (_case, method, payload) => {
    const on = await tenant()
    const existing = await created(on, { name: 'existing' })
    const url = method === 'POST' ? POLICY_PATHS.classic : `${POLICY_PATHS.classic}/${existing.id}`
    expectErrorBody(await on.inject({ method: method as 'POST', url, payload }), 400)
    expect((await on.inject({ method: 'GET', url: POLICY_PATHS.classic })).json()).toMatchObject({ total: 1, entities: [{ name: 'existing', enabled: false }] })
  })

  it('answers 403 without the permission of the operation, and each family needs its own', async () => {
    const owner = await tenant()
    const policy = await created(owner, { name: 'p' })
    const viewOnly = await ctx.token(['recording:retentionPolicy:view'], owner.organizationId)
    const crossOnly = await ctx.token(['recording:crossPlatformRetentionPolicy:view', 'recording:crossPlatformRetentionPolicy:add'], owner.organizationId)
    const as = (token: string, options: InjectOptions) => ctx.app.inject({ ...options, headers: { authorization: `Bearer ${token}` } })

    expect((await as(viewOnly, { method: 'GET', url: `${POLICY_PATHS.classic}/${policy.id}` })).statusCode).toBe(200)
    for (const [options, needed] of [
      [{ method: 'POST', url: POLICY_PATHS.classic, payload: { name: 'q' } }, 'recording:retentionPolicy:add'],
      [{ method: 'PUT', url: `${POLICY_PATHS.classic}/${policy.id}`, payload: { name: 'q' } }, 'recording:retentionPolicy:edit'],
      [{ method: 'PATCH', url: `${POLICY_PATHS.classic}/${policy.id}`, payload: { enabled: true } }, 'recording:retentionPolicy:edit'],
      [{ method: 'DELETE', url: `${POLICY_PATHS.classic}/${policy.id}` }, 'recording:retentionPolicy:delete'],
      [{ method: 'DELETE', url: `${POLICY_PATHS.classic}?ids=${policy.id}` }, 'recording:retentionPolicy:delete'],
    ] as const) {
      const body = expectErrorBody(await as(viewOnly, options as InjectOptions), 403)
      expect(body.message).toContain(needed)
    }
    expect(expectErrorBody(await as(crossOnly, { method: 'GET', url: POLICY_PATHS.classic }), 403).message).toContain('recording:retentionPolicy:view')
    expect((await as(crossOnly, { method: 'POST', url: POLICY_PATHS.crossplatform, payload: { name: 'x' } })).statusCode).toBe(200)
    expect((await owner.inject({ method: 'GET', url: `${POLICY_PATHS.classic}/${policy.id}` })).json()).toMatchObject({ name: 'p', enabled: false })
  })

  it("answers 404 to another organization's policy, as to an unknown id, and leaves it alone", async () => {
    const a = await tenant()
    const b = await tenant()
    const policy = await created(a, { ...keepFor('of a', { delete: 10 }), enabled: false })
    const url = `${POLICY_PATHS.classic}/${policy.id}`
    for (const options of [
      { method: 'GET', url },
      { method: 'PUT', url, payload: { name: 'taken' } },
      { method: 'PATCH', url, payload: { enabled: true } },
      { method: 'DELETE', url },
    ] as const) {
      const body = expectErrorBody(await b.inject(options as InjectOptions), 404)
      const unknown = expectErrorBody(await b.inject({ ...(options as InjectOptions), url: `${POLICY_PATHS.classic}/${randomUUID()}` }), 404)
      expect(body.code).toBe(unknown.code)
    }
    await b.inject({ method: 'DELETE', url: `${POLICY_PATHS.classic}?ids=${policy.id}` })
    expect((await b.inject({ method: 'GET', url: POLICY_PATHS.classic })).json()).toMatchObject({ total: 0, entities: [] })
    expect((await a.inject({ method: 'GET', url })).json()).toEqual(policy)
    // Nor does it date B's recordings once enabled.
    await a.inject({ method: 'PATCH', url, payload: { enabled: true } })
    const { recording } = await ingested(b, call)
    expect(recording).not.toHaveProperty('deleteDate')
  })
})

describe('policyErrors: conditions this store cannot evaluate', () => {
  it('are answered in policyErrors when saved, the policy applies to nothing, and a PUT without them clears them', async () => {
    const on = await tenant()
    const unevaluable = {
      ...keepFor('queues', { delete: 10 }, 'callPolicy', { forQueues: [{ id: 'q1' }], wrapupCodes: [{ id: 'w1' }] }),
      conditions: { timeAllowed: { timeZoneId: 'Mars/Olympus', timeSlots: [{ day: 1, startTime: '08:00', stopTime: '18:00' }] } },
    }
    const res = await on.inject({ method: 'POST', url: POLICY_PATHS.classic, payload: unevaluable, headers: { 'inin-correlation-id': 'corr-policy-1' } })
    expect(res.statusCode, res.body).toBe(200)
    const policy = res.json<Policy>()
    const messages = policy.policyErrors?.policyErrorMessages ?? []
    expect(messages.map((m) => m.userParams?.[0]?.value).sort()).toEqual([
      'conditions.timeAllowed', 'mediaPolicies.callPolicy.conditions.forQueues', 'mediaPolicies.callPolicy.conditions.wrapupCodes',
    ])
    for (const message of messages) {
      expect(message).toMatchObject({
        statusCode: 400, errorCode: 'policy.condition.not.evaluable', correlationId: 'corr-policy-1',
        userMessage: expect.stringMatching(/applies to no recording/), insertDate: expect.any(String),
      })
    }
    expect(String(messages.find((m) => m.userParams?.[0]?.value === 'mediaPolicies.callPolicy.conditions.forQueues')?.userMessage)).toMatch(/queues/)
    expect((await on.inject({ method: 'GET', url: `${POLICY_PATHS.classic}/${policy.id}` })).json()).toEqual(policy)

    const { recording } = await ingested(on, call)
    expect(recording).not.toHaveProperty('deleteDate')

    // Sending policyErrors back changes nothing; removing the conditions clears them, and the policy applies.
    const fixed = await on.inject({ method: 'PUT', url: `${POLICY_PATHS.classic}/${policy.id}`, payload: { ...keepFor('queues', { delete: 10 }), policyErrors: policy.policyErrors } })
    expect(fixed.statusCode, fixed.body).toBe(200)
    expect(fixed.json()).not.toHaveProperty('policyErrors')
    const after = await ingested(on, call)
    expectDaysAfter(after.recording.deleteDate, 10, after)
  })

  it.each([
    ['a date range that is not an interval', { dateRanges: ['last week'] }],
    ['a time slot with a malformed time', { timeAllowed: { timeSlots: [{ day: 1, startTime: '8 am' }] } }],
    ['a duration without a usable range', { duration: { durationOperator: 'GREATER_THAN', durationRange: 'five minutes' } }],
    ['a duration with an unknown operator', { duration: { durationOperator: 'ROUGHLY', durationRange: 'PT5M' } }],
    ['teams', { teams: [{ id: 't1', name: 'A' }] }],
    ['directions', { directions: ['INBOUND'] }],
    ['users without ids', { forUsers: [{ name: 'Ada' }] }],
  ])('records %s', async (_case, conditions) => {
    const on = await tenant()
    const policy = await created(on, keepFor('p', { delete: 3 }, 'callPolicy', conditions), 'crossplatform')
    expect(policy.policyErrors?.policyErrorMessages).toHaveLength(1)
  })
})

describe('applied at ingest', () => {
  it('dates a recording of the media policy\'s media, from its ingest, and no other media', async () => {
    const on = await tenant()
    await created(on, keepFor('calls', { archive: 30, delete: 90 }))
    const audio = await ingested(on, call)
    expectDaysAfter(audio.recording.archiveDate, 30, audio)
    expectDaysAfter(audio.recording.deleteDate, 90, audio)
    const screen = await ingested(on, { ...call, media: 'screen' })
    expectDaysAfter(screen.recording.deleteDate, 90, screen)
    const chat = await ingested(on, { name: 'chat', media: 'chat' })
    expect(chat.recording).not.toHaveProperty('deleteDate')
    expect(chat.recording).not.toHaveProperty('archiveDate')
    // What GET answers is what was stored.
    const got = await on.inject({ method: 'GET', url: `${recordingsUrl(audio.recording.conversationId ?? '')}/${audio.recording.id}?formatId=NONE` })
    expect(got.json<Recording>()).toMatchObject({ archiveDate: audio.recording.archiveDate, deleteDate: audio.recording.deleteDate })
  })

  it('maps chatPolicy, emailPolicy and messagePolicy to their media, and top-level mediaTypes CHAT to chat', async () => {
    const on = await tenant()
    await created(on, keepFor('chat', { delete: 11 }, 'chatPolicy'), 'crossplatform')
    await created(on, keepFor('email', { delete: 12 }, 'emailPolicy'))
    await created(on, keepFor('message', { delete: 13 }, 'messagePolicy'))
    for (const [media, days] of [['chat', 11], ['email', 12], ['messaging', 13]] as const) {
      const done = await ingested(on, { name: media, media })
      expectDaysAfter(done.recording.deleteDate, days, done)
    }
    const other = await tenant()
    await created(other, { name: 'top-level', enabled: true, conditions: { mediaTypes: ['CHAT'] }, actions: { retentionDuration: { deleteRetention: { days: 5 } } } })
    const chat = await ingested(other, { name: 'chat', media: 'chat' })
    expectDaysAfter(chat.recording.deleteDate, 5, chat)
    expect((await ingested(other, call)).recording).not.toHaveProperty('deleteDate')
    expect((await ingested(other, { name: 'no media' })).recording).not.toHaveProperty('deleteDate')
  })

  it('matches forUsers against the users of the recording', async () => {
    const on = await tenant()
    await created(on, keepFor('ada', { delete: 7 }, 'callPolicy', { forUsers: [{ id: audioRecording.users[0]?.id, name: 'Ada' }] }))
    const hers = await ingested(on, { ...call, users: audioRecording.users })
    expectDaysAfter(hers.recording.deleteDate, 7, hers)
    expect((await ingested(on, { ...call, users: [{ id: randomUUID(), name: 'someone else' }] })).recording).not.toHaveProperty('deleteDate')
    expect((await ingested(on, call)).recording).not.toHaveProperty('deleteDate')
  })

  it('matches dateRanges against the start of the recording', async () => {
    const on = await tenant()
    await created(on, keepFor('may', { delete: 8 }, 'callPolicy', { dateRanges: ['2024-05-01T00:00:00.000Z/2024-06-01T00:00:00.000Z', '2020-01-01T00:00:00Z/2020-01-02T00:00:00Z'] }))
    const inMay = await ingested(on, call)
    expectDaysAfter(inMay.recording.deleteDate, 8, inMay)
    expect((await ingested(on, { ...call, startTime: '2024-06-01T00:00:00.000Z', endTime: '2024-06-01T00:05:00.000Z' })).recording).not.toHaveProperty('deleteDate')
    // Without a startTime, the ingest is the start (today, outside both ranges).
    expect((await ingested(on, { name: 'undated', media: 'audio' })).recording).not.toHaveProperty('deleteDate')
  })

  it('matches timeAllowed slots by weekday and time of day in their time zone', async () => {
    const on = await tenant()
    // Mondays 08:00 to 18:00 in Berlin (UTC+2 in May).
    await created(on, keepFor('office hours', { delete: 9 }, 'callPolicy', {
      timeAllowed: { timeZoneId: 'Europe/Berlin', timeSlots: [{ day: 1, startTime: '08:00:00.000', stopTime: '18:00:00.000' }] },
    }))
    const at = (startTime: string) => ({ ...call, startTime, endTime: new Date(Date.parse(startTime) + 60_000).toISOString() })
    const monday = await ingested(on, at('2024-05-06T10:00:00.000Z')) // 12:00 in Berlin
    expectDaysAfter(monday.recording.deleteDate, 9, monday)
    const early = await ingested(on, at('2024-05-06T06:00:00.000Z')) // 08:00 in Berlin: the slot's start
    expectDaysAfter(early.recording.deleteDate, 9, early)
    expect((await ingested(on, at('2024-05-06T16:00:00.000Z'))).recording).not.toHaveProperty('deleteDate') // 18:00: its end
    expect((await ingested(on, at('2024-05-05T10:00:00.000Z'))).recording).not.toHaveProperty('deleteDate') // Sunday
    expect((await ingested(on, at('2024-05-05T22:30:00.000Z'))).recording).not.toHaveProperty('deleteDate') // Monday 00:30 in Berlin
  })

  it('matches duration (endTime − startTime) with GREATER_THAN, LESS_THAN and IN', async () => {
    const on = await tenant()
    await created(on, keepFor('long calls', { delete: 20 }, 'callPolicy', { duration: { durationTarget: 'DURATION', durationOperator: 'GREATER_THAN', durationRange: 'PT5M' } }))
    await created(on, keepFor('short calls', { delete: 2 }, 'callPolicy', { duration: { durationMode: 'Under', durationRange: '60000' } }))
    await created(on, keepFor('middle calls', { delete: 4 }, 'callPolicy', { duration: { durationOperator: 'IN', durationRange: 'PT1M/PT3M' } }))
    const long = await ingested(on, call) // 7 minutes
    expectDaysAfter(long.recording.deleteDate, 20, long)
    const short = await ingested(on, { ...call, endTime: '2024-05-06T10:00:30.000Z' })
    expectDaysAfter(short.recording.deleteDate, 2, short)
    const middle = await ingested(on, { ...call, endTime: '2024-05-06T10:02:00.000Z' })
    expectDaysAfter(middle.recording.deleteDate, 4, middle)
    expect((await ingested(on, { ...call, endTime: '2024-05-06T10:04:00.000Z' })).recording).not.toHaveProperty('deleteDate')
    expect((await ingested(on, { name: 'no times', media: 'audio' })).recording).not.toHaveProperty('deleteDate')
  })

  it('takes empty lists and objects as conditions not given', async () => {
    const on = await tenant()
    const policy = await created(on, keepFor('empty', { delete: 6 }, 'callPolicy', { forQueues: [], teams: [], duration: {}, timeAllowed: { timeSlots: [] }, dateRanges: [] }))
    expect(policy).not.toHaveProperty('policyErrors')
    const done = await ingested(on, call)
    expectDaysAfter(done.recording.deleteDate, 6, done)
  })

  it('keeps the dates an ingest gives', async () => {
    const on = await tenant()
    await created(on, keepFor('calls', { archive: 1, delete: 2 }))
    const given = { archiveDate: '2040-01-01T00:00:00.000Z', deleteDate: '2041-01-01T00:00:00.000Z' }
    expect((await ingested(on, { ...call, ...given })).recording).toMatchObject(given)
    const onlyDelete = (await ingested(on, { ...call, deleteDate: given.deleteDate })).recording
    expect(onlyDelete.deleteDate).toBe(given.deleteDate)
    expect(onlyDelete).not.toHaveProperty('archiveDate')
  })

  it('lets the longest retention win: the latest dates, and a policy that keeps wins over every delete date', async () => {
    const on = await tenant()
    await created(on, keepFor('30 days', { archive: 5, delete: 30 }))
    await created(on, keepFor('90 days', { archive: 3, delete: 90 }), 'crossplatform')
    await created(on, { name: 'delete at once', enabled: true, mediaPolicies: { callPolicy: { actions: { deleteRecording: true, retainRecording: false } } } })
    const both = await ingested(on, call)
    expectDaysAfter(both.recording.archiveDate, 5, both)
    expectDaysAfter(both.recording.deleteDate, 90, both)

    const keep = await created(on, { name: 'keep', enabled: true, mediaPolicies: { callPolicy: { actions: { retainRecording: true } } } })
    const kept = await ingested(on, call)
    expectDaysAfter(kept.recording.archiveDate, 5, kept)
    expect(kept.recording).not.toHaveProperty('deleteDate')

    // An archive date not before the delete date is dropped: the recording is deleted first.
    await on.inject({ method: 'DELETE', url: `${POLICY_PATHS.classic}?ids=${keep.id}` })
    const lateArchive = await tenant()
    await created(lateArchive, keepFor('archive late', { archive: 60, delete: 10 }))
    const dropped = await ingested(lateArchive, call)
    expectDaysAfter(dropped.recording.deleteDate, 10, dropped)
    expect(dropped.recording).not.toHaveProperty('archiveDate')
  })

  it('never changes earlier recordings, ignores disabled policies, and applies once enabled', async () => {
    const on = await tenant()
    const earlier = await ingested(on, call)
    const policy = await created(on, { ...keepFor('later', { delete: 15 }), enabled: false })
    const whileDisabled = await ingested(on, call)
    expect(whileDisabled.recording).not.toHaveProperty('deleteDate')
    expect((await on.inject({ method: 'PATCH', url: `${POLICY_PATHS.classic}/${policy.id}`, payload: { enabled: true } })).statusCode).toBe(200)
    const afterwards = await ingested(on, call)
    expectDaysAfter(afterwards.recording.deleteDate, 15, afterwards)
    for (const { recording } of [earlier, whileDisabled]) {
      const { rows } = await ctx.sql.query<{ delete_date: Date | null; archive_date: Date | null }>('SELECT delete_date, archive_date FROM recordings WHERE id = $1', [recording.id])
      expect(rows).toEqual([{ delete_date: null, archive_date: null }])
    }
    // Deleting the policy leaves the dates it gave.
    expect((await on.inject({ method: 'DELETE', url: `${POLICY_PATHS.classic}/${policy.id}` })).statusCode).toBe(204)
    const { rows } = await ctx.sql.query<{ delete_date: Date }>('SELECT delete_date FROM recordings WHERE id = $1', [afterwards.recording.id])
    expect(rows[0]?.delete_date.toISOString()).toBe(afterwards.recording.deleteDate)
    expect((await ingested(on, call)).recording).not.toHaveProperty('deleteDate')
  })

  it('deletes at once with deleteRecording or alwaysDelete, except in a protected conversation', async () => {
    const on = await tenant()
    await created(on, { name: 'drop chats', enabled: true, mediaPolicies: { chatPolicy: { actions: { alwaysDelete: true, retainRecording: true } } } })
    const protectedConversation = randomUUID()
    const res = await on.inject({ method: 'PUT', url: '/api/v2/recordings/deletionprotection?protect=true', payload: { conversationIds: [protectedConversation] } })
    expect(res.statusCode, res.body).toBe(200)
    const before = Date.now()
    const held = await ingest(on, protectedConversation, { name: 'held', media: 'chat' })
    const free = await ingest(on, randomUUID(), { name: 'free', media: 'chat' })
    for (const recording of [held, free]) {
      expect(Date.parse(recording.deleteDate ?? '')).toBeGreaterThanOrEqual(before)
      expect(Date.parse(recording.deleteDate ?? '')).toBeLessThanOrEqual(Date.now())
    }
    const url = (conversationId: string, id: string | undefined) => `${recordingsUrl(conversationId)}/${id}`
    await eventually(async () => (await on.inject({ method: 'GET', url: url(free.conversationId ?? '', free.id) })).statusCode === 404, 'the sweep deletes the unprotected one')
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect((await on.inject({ method: 'GET', url: url(protectedConversation, held.id) })).statusCode).toBe(200)
  })
})
