import platformClient from 'purecloud-platform-client-v2'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Recording } from '../src/schemas/recording.js'
import { startSdkSuite, type SdkSuite } from './sdk-suite.js'

/**
 * Media retention policies through the official Genesys JavaScript SDK (RecordingApi, both the classic and the
 * cross-platform family), pointed at the listening service over real HTTP, as test/sdk.test.ts does.
 */

let baseUrl: string
let token: string
const api = new platformClient.RecordingApi()
const DAY = 86_400_000

let suite: SdkSuite | undefined
beforeAll(async () => {
  suite = await startSdkSuite('sdk-policy-org', 'sdk policy suite')
  ;({ baseUrl, token } = suite)
})
afterAll(async () => {
  await suite?.close()
})

/** The SDK cannot create recordings: producers use the store's own ingest route. */
async function ingestCall(): Promise<Recording & { before: number; after: number }> {
  const before = Date.now()
  const res = await fetch(`${baseUrl}/api/v2/conversations/${randomUUID()}/recordings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'call', media: 'audio', startTime: '2024-05-06T10:00:00.000Z', endTime: '2024-05-06T10:07:00.000Z' }),
  })
  expect(res.status).toBe(201)
  return { ...((await res.json()) as Recording), before, after: Date.now() }
}

describe('RecordingApi media retention policies against the service', () => {
  it('a policy created with postRecordingMediaretentionpolicies dates the next matching ingest, not earlier ones', async () => {
    const earlier = await ingestCall()
    const policy = await api.postRecordingMediaretentionpolicies({
      name: 'calls for 45 days',
      enabled: true,
      mediaPolicies: {
        callPolicy: {
          conditions: { duration: { durationOperator: 'GREATER_THAN', durationRange: 'PT5M' } },
          actions: { retainRecording: true, retentionDuration: { archiveRetention: { days: 15, storageMedium: 'CLOUDARCHIVE' }, deleteRetention: { days: 45 } } },
        },
      },
    })
    expect(policy).toMatchObject({ id: expect.any(String), name: 'calls for 45 days', enabled: true, selfUri: `/api/v2/recording/mediaretentionpolicies/${policy.id}` })
    expect(policy).not.toHaveProperty('policyErrors')

    const next = await ingestCall()
    expect(Date.parse(next.deleteDate ?? '')).toBeGreaterThanOrEqual(next.before + 45 * DAY)
    expect(Date.parse(next.deleteDate ?? '')).toBeLessThanOrEqual(next.after + 45 * DAY)
    expect(Date.parse(next.archiveDate ?? '')).toBeGreaterThanOrEqual(next.before + 15 * DAY)

    const reread = await api.getConversationRecording(earlier.conversationId ?? '', earlier.id ?? '', { formatId: 'NONE' })
    expect(reread).not.toHaveProperty('deleteDate')
    expect(reread).not.toHaveProperty('archiveDate')

    // Disabled through the SDK: the next ingest gets no dates.
    expect(await api.patchRecordingMediaretentionpolicy(policy.id ?? '', { enabled: false })).toMatchObject({ id: policy.id, enabled: false })
    expect(await ingestCall()).not.toHaveProperty('deleteDate')
    await api.deleteRecordingMediaretentionpolicy(policy.id ?? '')
  })

  it('lists, gets, replaces, patches and deletes classic policies', async () => {
    const a = await api.postRecordingMediaretentionpolicies({ name: 'sdk a', actions: { retentionDuration: { deleteRetention: { days: 100 } } } })
    const b = await api.postRecordingMediaretentionpolicies({ name: 'sdk b', conditions: { forQueues: [{ id: 'q1' }] } as never })
    expect(b.policyErrors?.policyErrorMessages?.[0]).toMatchObject({ errorCode: 'policy.condition.not.evaluable', statusCode: 400 })

    const listed = await api.getRecordingMediaretentionpolicies({ name: 'sdk', sortBy: 'name', pageSize: 1, pageNumber: 2 })
    expect(listed).toMatchObject({ total: 2, pageSize: 1, pageNumber: 2, pageCount: 2, entities: [{ id: b.id, name: 'sdk b' }] })
    expect((await api.getRecordingMediaretentionpolicies({ hasErrors: true, name: 'sdk' })).entities?.map((p) => p.id)).toEqual([b.id])
    expect((await api.getRecordingMediaretentionpolicies({ deleteDaysThreshold: 50 })).entities?.map((p) => p.id)).toEqual([a.id])

    expect(await api.getRecordingMediaretentionpolicy(a.id ?? '')).toEqual(a)
    const replaced = await api.putRecordingMediaretentionpolicy(a.id ?? '', { ...a, name: 'sdk a, renamed', description: 'changed' })
    expect(replaced).toMatchObject({ id: a.id, name: 'sdk a, renamed', description: 'changed', createdDate: a.createdDate })
    expect(await api.patchRecordingMediaretentionpolicy(a.id ?? '', { enabled: true })).toMatchObject({ enabled: true })

    await api.deleteRecordingMediaretentionpolicies([a.id, b.id].join(','))
    expect((await api.getRecordingMediaretentionpolicies({ name: 'sdk' })).total).toBe(0)
    const missing = (await api.getRecordingMediaretentionpolicy(a.id ?? '').catch((error: unknown) => error)) as { status: number; code: string }
    expect(missing).toMatchObject({ status: 404, code: 'not.found' })
  })

  it('lists, gets, replaces, patches and deletes cross-platform policies, which date ingests as classic ones do', async () => {
    const policy = await api.postRecordingCrossplatformMediaretentionpolicies({
      name: 'cross calls',
      enabled: true,
      mediaPolicies: { callPolicy: { actions: { retentionDuration: { deleteRetention: { days: 3 } } } } },
    })
    expect(policy.selfUri).toBe(`/api/v2/recording/crossplatform/mediaretentionpolicies/${policy.id}`)
    const dated = await ingestCall()
    expect(Date.parse(dated.deleteDate ?? '')).toBeGreaterThanOrEqual(dated.before + 3 * DAY)

    expect((await api.getRecordingCrossplatformMediaretentionpolicies({ enabled: true })).entities?.map((p) => p.id)).toEqual([policy.id])
    expect((await api.getRecordingMediaretentionpolicies({ name: 'cross' })).total).toBe(0)
    expect(await api.getRecordingCrossplatformMediaretentionpolicy(policy.id ?? '')).toEqual(policy)
    expect(await api.putRecordingCrossplatformMediaretentionpolicy(policy.id ?? '', { ...policy, name: 'cross, renamed' })).toMatchObject({ name: 'cross, renamed' })
    expect(await api.patchRecordingCrossplatformMediaretentionpolicy(policy.id ?? '', { enabled: false })).toMatchObject({ enabled: false })

    const other = await api.postRecordingCrossplatformMediaretentionpolicies({ name: 'cross other' })
    await api.deleteRecordingCrossplatformMediaretentionpolicy(policy.id ?? '')
    await api.deleteRecordingCrossplatformMediaretentionpolicies(other.id ?? '')
    expect((await api.getRecordingCrossplatformMediaretentionpolicies()).total).toBe(0)
  })
})
