import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALL_PERMISSIONS, REQUIRES, SECURITY_SCHEME, type Permission } from '../../src/auth/permissions.js'
import type { Annotation, Recording } from '../../src/schemas/recording.js'
import { POLICY_PATHS, type PolicyFamily } from '../../src/services/retention-policy-service.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { audioRecording, chatRecording } from '../fixtures.js'
import { wav } from '../media.js'
import { createOrganization, createTestContext, expectErrorBody, recordingsUrl, rowCounts, type Method, type TestContext } from '../helpers.js'

/**
 * Who may do what: every /api/v2 operation against the permissions its OpenAPI `security` lists (one alternative
 * suffices), and every route against a second organization. Both matrices are driven by OPERATIONS below: a new
 * route needs one entry there (the coverage test fails until it has one).
 */

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

/** What a request addresses. */
interface Target {
  conversationId: string
  recordingId: string
  annotationId: string
  /** A webhook of the recording's organization, and an event it has a delivery of, once `prepareWebhook` made them. */
  webhookId: string
  eventId: string
}

interface Call {
  method: Method
  url: string
  payload?: object
  /** Content-Type of a payload that is not JSON (then payload is its bytes). */
  contentType?: string
}

interface Operation {
  /** A name for this row (an operation may have several, e.g. an upsert that creates or updates). */
  name: string
  /** Its operationId in the OpenAPI document, whose `security` is the permission rule under test. */
  operationId: string
  /**
   * What the request addresses: a new recording of a conversation (ingest), a conversation's recordings, one
   * recording (or something new under it), one existing annotation of a recording, or one webhook (or a delivery of it).
   */
  scope: 'ingest' | 'organization' | 'conversation' | 'recording' | 'annotation' | 'webhook'
  call(target: Target): Call
  /** Status on success. */
  ok: number
  /** Whether success changes stored data (then the snapshot must change, which proves the snapshot sees it). */
  mutates: boolean
  /**
   * Of the operation's alternatives, only these let this variant through: the one for annotation upserts (Genesys
   * rule), the edit ones for a retention change that is not a restore.
   */
  onlyWith?: Permission | Permission[]
  /** What the target needs before the operation can succeed on it. */
  prepare?: (target: Target) => Promise<void>
}

const RETENTION = { archiveDate: '2035-01-01T00:00:00.000Z', deleteDate: '2036-01-01T00:00:00.000Z' }
const recordingUrl = (t: Target) => `${recordingsUrl(t.conversationId)}/${t.recordingId}`
const annotationsUrl = (t: Target) => `${recordingUrl(t)}/annotations`
const metadataUrl = (t: Target) => `/api/v2/conversations/${t.conversationId}/recordingmetadata`
const SETTINGS_URL = '/api/v2/recording/settings'
const PROTECTION_URL = '/api/v2/recordings/deletionprotection'
const BATCHES_URL = '/api/v2/recording/batchrequests'
const JOBS_URL = '/api/v2/recording/jobs'

/**
 * A READY job under the target's recording id, made by the client that executes it (only a job's creator may): tokens
 * of the test context are clients named by their organization and number of permissions, and the execute operation is
 * sent with exactly its permissions in the default organization, with all of them in another. The jobs still active
 * are cancelled first, since an organization may have only two.
 */
async function prepareJob(t: Target): Promise<void> {
  await ctx.sql.query(`UPDATE recording_jobs SET state = 'CANCELLED' WHERE state IN ('PENDING', 'PROCESSING')`)
  await ctx.sql.query(`INSERT INTO recording_jobs (id, organization_id, client_id, action, state, query, total_recordings, total_conversations)
    SELECT $1, organization_id, 'test-' || organization_id || '-' || CASE WHEN organization_id = $2 THEN $3 ELSE $4 END,
      'DELETE', 'READY', '{"action":"DELETE"}', 0, 0 FROM recordings WHERE id = $1`,
  [t.recordingId, DEFAULT_ORGANIZATION_ID, REQUIRES.executeRecordingJob.length, ALL_PERMISSIONS.length])
}
const WEBHOOKS_URL = '/api/v2/recording/webhooks'
const webhookUrl = (t: Target) => `${WEBHOOKS_URL}/${t.webhookId}`
// Public (no 400), needs no DNS; the webhooks made here are disabled, so nothing is ever sent to it.
const WEBHOOK_BODY = { name: 'access', url: 'https://203.0.113.10/hook', events: ['webhook.ping'], enabled: false }
let playbackTtlCalls = 0
/** The retention policy of each family the policy operations address, made by `preparePolicy` in the target's organization. */
const policyIds: Record<PolicyFamily, string> = { classic: randomUUID(), crossplatform: randomUUID() }
const preparePolicy = (family: PolicyFamily) => async (t: Target) => {
  policyIds[family] = randomUUID()
  await ctx.sql.query(
    `INSERT INTO retention_policies (id, organization_id, family, name, enabled, policy)
     SELECT $1, organization_id, $2, 'access', false, '{}' FROM recordings WHERE id = $3`,
    [policyIds[family], family, t.recordingId],
  )
}
/** Each media retention policy operation of a family (classic or cross-platform). */
const policyOperations = (family: PolicyFamily, name: string): Operation[] => {
  const url = POLICY_PATHS[family]
  const one = () => `${url}/${policyIds[family]}`
  const prepare = preparePolicy(family)
  return [
    { name: `list ${family} retention policies`, operationId: `getRecording${name}Mediaretentionpolicies`, scope: 'organization', ok: 200, mutates: false, call: () => ({ method: 'GET', url }) },
    { name: `create a ${family} retention policy`, operationId: `postRecording${name}Mediaretentionpolicies`, scope: 'organization', ok: 200, mutates: true, call: () => ({ method: 'POST', url, payload: { name: 'created' } }) },
    { name: `delete ${family} retention policies by id`, operationId: `deleteRecording${name}Mediaretentionpolicies`, scope: 'organization', ok: 204, mutates: true, prepare, call: () => ({ method: 'DELETE', url: `${url}?ids=${policyIds[family]}` }) },
    { name: `get a ${family} retention policy`, operationId: `getRecording${name}Mediaretentionpolicy`, scope: 'organization', ok: 200, mutates: false, prepare, call: () => ({ method: 'GET', url: one() }) },
    { name: `replace a ${family} retention policy`, operationId: `putRecording${name}Mediaretentionpolicy`, scope: 'organization', ok: 200, mutates: true, prepare, call: () => ({ method: 'PUT', url: one(), payload: { name: 'replaced' } }) },
    { name: `enable a ${family} retention policy`, operationId: `patchRecording${name}Mediaretentionpolicy`, scope: 'organization', ok: 200, mutates: true, prepare, call: () => ({ method: 'PATCH', url: one(), payload: { enabled: true } }) },
    { name: `delete a ${family} retention policy`, operationId: `deleteRecording${name}Mediaretentionpolicy`, scope: 'organization', ok: 204, mutates: true, prepare, call: () => ({ method: 'DELETE', url: one() }) },
  ]
}
let webhookPuts = 0

/** The target's webhook, in its recording's organization, with a FAILED delivery of the target's event. */
async function prepareWebhook(t: Target): Promise<void> {
  await ctx.sql.query(
    `WITH hook AS (
       INSERT INTO webhooks (id, organization_id, name, url, events, enabled, secret)
       SELECT $1, organization_id, 'access', 'https://203.0.113.10/hook', ARRAY['webhook.ping'], false, 'whsec_' || md5(random()::text)
       FROM recordings WHERE id = $3 RETURNING id, organization_id),
     event AS (
       INSERT INTO webhook_events (id, organization_id, topic, subject, body)
       SELECT $2, organization_id, 'webhook.ping', 'ping:' || id, '{}' FROM hook RETURNING id, seq, subject)
     INSERT INTO webhook_deliveries (webhook_id, event_id, seq, subject, state, attempts, last_error)
     SELECT $1, id, seq, subject, 'FAILED', 3, 'connection refused' FROM event`,
    [t.webhookId, t.eventId, t.recordingId],
  )
}

const OPERATIONS: Operation[] = [
  {
    name: 'ingest a recording', operationId: 'postConversationRecording', scope: 'ingest', ok: 201, mutates: true,
    call: (t) => ({ method: 'POST', url: recordingsUrl(t.conversationId), payload: { ...chatRecording, name: 'posted' } }),
  },
  {
    name: 'search recordings', operationId: 'getRecordings', scope: 'organization', ok: 200, mutates: false,
    call: (t) => ({ method: 'GET', url: `/api/v2/recordings?conversationId=${t.conversationId}` }),
  },
  {
    name: 'list recordings', operationId: 'getConversationRecordings', scope: 'conversation', ok: 200, mutates: false,
    call: (t) => ({ method: 'GET', url: recordingsUrl(t.conversationId) }),
  },
  {
    name: 'list recording metadata', operationId: 'getConversationRecordingmetadata', scope: 'conversation', ok: 200, mutates: false,
    call: (t) => ({ method: 'GET', url: metadataUrl(t) }),
  },
  {
    name: 'get a recording', operationId: 'getConversationRecording', scope: 'recording', ok: 200, mutates: false,
    call: (t) => ({ method: 'GET', url: recordingUrl(t) }),
  },
  {
    name: 'get recording metadata', operationId: 'getConversationRecordingmetadataRecordingId', scope: 'recording', ok: 200, mutates: false,
    call: (t) => ({ method: 'GET', url: `${metadataUrl(t)}/${t.recordingId}` }),
  },
  {
    name: 'update retention', operationId: 'putConversationRecording', scope: 'recording', ok: 200, mutates: true,
    call: (t) => ({ method: 'PUT', url: recordingUrl(t), payload: RETENTION }),
    // The restore permissions let a PUT through only when it restores archived media (test/routes/restore.test.ts).
    onlyWith: [...REQUIRES.editRetention],
  },
  {
    name: 'delete a recording', operationId: 'deleteConversationRecording', scope: 'recording', ok: 204, mutates: true,
    call: (t) => ({ method: 'DELETE', url: recordingUrl(t) }),
  },
  {
    name: 'upload the media of a recording', operationId: 'putConversationRecordingMedia', scope: 'recording', ok: 200, mutates: true,
    call: (t) => ({ method: 'PUT', url: `${recordingUrl(t)}/media`, payload: wav(0.1), contentType: 'audio/wav' }),
    // The arranged recording links its media at ingest; an upload needs one still waiting for its media.
    prepare: async (t) => {
      await ctx.sql.query(`UPDATE recordings SET file_state = 'UPLOADING' WHERE id = $1`, [t.recordingId])
      await ctx.sql.query('DELETE FROM media_results WHERE recording_id = $1', [t.recordingId])
    },
  },
  {
    name: 'list annotations', operationId: 'getConversationRecordingAnnotations', scope: 'recording', ok: 200, mutates: false,
    call: (t) => ({ method: 'GET', url: annotationsUrl(t) }),
  },
  {
    name: 'create an annotation (POST)', operationId: 'postConversationRecordingAnnotations', scope: 'recording', ok: 200, mutates: true,
    onlyWith: 'recording:annotation:add',
    call: (t) => ({ method: 'POST', url: annotationsUrl(t), payload: { name: 'posted', type: 'bookmark', location: 7 } }),
  },
  {
    name: 'update an annotation (POST with its id)', operationId: 'postConversationRecordingAnnotations', scope: 'annotation', ok: 200, mutates: true,
    onlyWith: 'recording:annotation:edit',
    call: (t) => ({ method: 'POST', url: annotationsUrl(t), payload: { id: t.annotationId, name: 'renamed by POST', type: 'bookmark', location: 8 } }),
  },
  {
    name: 'get an annotation', operationId: 'getConversationRecordingAnnotation', scope: 'annotation', ok: 200, mutates: false,
    call: (t) => ({ method: 'GET', url: `${annotationsUrl(t)}/${t.annotationId}` }),
  },
  {
    name: 'update an annotation (PUT)', operationId: 'putConversationRecordingAnnotation', scope: 'annotation', ok: 200, mutates: true,
    onlyWith: 'recording:annotation:edit',
    call: (t) => ({ method: 'PUT', url: `${annotationsUrl(t)}/${t.annotationId}`, payload: { name: 'renamed by PUT', type: 'bookmark', location: 9 } }),
  },
  {
    name: 'create an annotation (PUT with a new id)', operationId: 'putConversationRecordingAnnotation', scope: 'recording', ok: 200, mutates: true,
    onlyWith: 'recording:annotation:add',
    call: (t) => ({ method: 'PUT', url: `${annotationsUrl(t)}/${randomUUID()}`, payload: { name: 'put-created', type: 'bookmark', location: 10 } }),
  },
  {
    name: 'delete an annotation', operationId: 'deleteConversationRecordingAnnotation', scope: 'annotation', ok: 204, mutates: true,
    call: (t) => ({ method: 'DELETE', url: `${annotationsUrl(t)}/${t.annotationId}` }),
  },
  {
    name: 'get the recording settings', operationId: 'getRecordingSettings', scope: 'organization', ok: 200, mutates: false,
    call: () => ({ method: 'GET', url: `${SETTINGS_URL}?createDefault=true` }),
    // createDefault stores the defaults on first use: stored beforehand, the read changes nothing.
    prepare: async () => {
      await ctx.sql.query('INSERT INTO recording_settings (organization_id) SELECT id FROM organizations ON CONFLICT DO NOTHING')
    },
  },
  {
    // Each call asks for another lifetime than the one before, so every success changes what is stored.
    name: 'update the recording settings', operationId: 'putRecordingSettings', scope: 'organization', ok: 200, mutates: true,
    onlyWith: 'recording:settings:editUrlExpiration',
    call: () => ({ method: 'PUT', url: SETTINGS_URL, payload: { recordingPlaybackUrlTtl: 2 + (playbackTtlCalls++ % 59) } }),
  },
  {
    name: 'list protected conversations', operationId: 'postRecordingsDeletionprotection', scope: 'organization', ok: 200, mutates: false,
    call: (t) => ({ method: 'POST', url: PROTECTION_URL, payload: { conversationIds: [t.conversationId] } }),
  },
  {
    name: 'protect a conversation', operationId: 'putRecordingsDeletionprotection', scope: 'organization', ok: 200, mutates: true,
    onlyWith: 'recording:deletionProtection:apply',
    call: (t) => ({ method: 'PUT', url: `${PROTECTION_URL}?protect=true`, payload: { conversationIds: [t.conversationId] } }),
  },
  {
    name: 'lift the protection of a conversation', operationId: 'putRecordingsDeletionprotection', scope: 'organization', ok: 200, mutates: true,
    onlyWith: 'recording:deletionProtection:revoke',
    call: (t) => ({ method: 'PUT', url: `${PROTECTION_URL}?protect=false`, payload: { conversationIds: [t.conversationId] } }),
    prepare: async (t) => {
      await ctx.sql.query('INSERT INTO protected_conversations (organization_id, conversation_id) SELECT organization_id, conversation_id FROM recordings WHERE id = $1', [t.recordingId])
    },
  },
  {
    name: 'query retention', operationId: 'getRecordingsRetentionQuery', scope: 'organization', ok: 200, mutates: false,
    call: () => ({ method: 'GET', url: '/api/v2/recordings/retention/query?retentionThresholdDays=1' }),
  },
  {
    name: 'submit a batch download', operationId: 'postRecordingBatchrequests', scope: 'organization', ok: 200, mutates: true,
    call: (t) => ({ method: 'POST', url: BATCHES_URL, payload: { batchDownloadRequestList: [{ conversationId: t.conversationId }] } }),
  },
  // Jobs are the organization's: test/routes/recording-jobs.test.ts shows another organization's answer 404. The job
  // the target's recording id names is made by prepareJob.
  {
    name: 'create a recording job', operationId: 'postRecordingJobs', scope: 'organization', ok: 202, mutates: true,
    call: () => ({ method: 'POST', url: JOBS_URL, payload: { action: 'DELETE', actionDate: '2036-01-01T00:00:00.000Z', conversationQuery: { interval: '2001-01-01T00:00:00Z/2001-01-02T00:00:00Z' } } }),
    prepare: prepareJob,
  },
  {
    name: 'list recording jobs', operationId: 'getRecordingJobs', scope: 'organization', ok: 200, mutates: false,
    call: () => ({ method: 'GET', url: JOBS_URL }),
  },
  {
    name: 'get a recording job', operationId: 'getRecordingJob', scope: 'organization', ok: 200, mutates: false,
    call: (t) => ({ method: 'GET', url: `${JOBS_URL}/${t.recordingId}` }), prepare: prepareJob,
  },
  {
    name: 'execute a recording job', operationId: 'putRecordingJob', scope: 'organization', ok: 200, mutates: true,
    call: (t) => ({ method: 'PUT', url: `${JOBS_URL}/${t.recordingId}`, payload: { state: 'PROCESSING' } }), prepare: prepareJob,
  },
  {
    name: 'cancel a recording job', operationId: 'deleteRecordingJob', scope: 'organization', ok: 204, mutates: true,
    call: (t) => ({ method: 'DELETE', url: `${JOBS_URL}/${t.recordingId}` }), prepare: prepareJob,
  },
  {
    name: 'list the failed recordings of a recording job', operationId: 'getRecordingJobFailedrecordings', scope: 'organization', ok: 200, mutates: false,
    call: (t) => ({ method: 'GET', url: `${JOBS_URL}/${t.recordingId}/failedrecordings` }), prepare: prepareJob,
  },
  // Policies are the organization's: test/routes/retention-policies.test.ts shows another organization's answer 404.
  ...policyOperations('classic', ''),
  ...policyOperations('crossplatform', 'Crossplatform'),
  {
    name: 'create a webhook', operationId: 'postRecordingWebhooks', scope: 'organization', ok: 201, mutates: true,
    call: () => ({ method: 'POST', url: WEBHOOKS_URL, payload: WEBHOOK_BODY }),
  },
  {
    name: 'list webhooks', operationId: 'getRecordingWebhooks', scope: 'organization', ok: 200, mutates: false,
    call: () => ({ method: 'GET', url: WEBHOOKS_URL }),
  },
  {
    name: 'get a webhook', operationId: 'getRecordingWebhook', scope: 'webhook', ok: 200, mutates: false,
    call: (t) => ({ method: 'GET', url: webhookUrl(t) }), prepare: prepareWebhook,
  },
  {
    name: 'replace a webhook', operationId: 'putRecordingWebhook', scope: 'webhook', ok: 200, mutates: true,
    call: (t) => ({ method: 'PUT', url: webhookUrl(t), payload: { ...WEBHOOK_BODY, name: `renamed ${++webhookPuts}` } }), prepare: prepareWebhook,
  },
  {
    name: 'delete a webhook', operationId: 'deleteRecordingWebhook', scope: 'webhook', ok: 204, mutates: true,
    call: (t) => ({ method: 'DELETE', url: webhookUrl(t) }), prepare: prepareWebhook,
  },
  {
    name: 'make a new webhook secret', operationId: 'postRecordingWebhookSecret', scope: 'webhook', ok: 200, mutates: true,
    call: (t) => ({ method: 'POST', url: `${webhookUrl(t)}/secret` }), prepare: prepareWebhook,
  },
  {
    name: 'list the deliveries of a webhook', operationId: 'getRecordingWebhookDeliveries', scope: 'webhook', ok: 200, mutates: false,
    call: (t) => ({ method: 'GET', url: `${webhookUrl(t)}/deliveries` }), prepare: prepareWebhook,
  },
  {
    name: 'redeliver a webhook delivery', operationId: 'postRecordingWebhookDeliveryRedeliver', scope: 'webhook', ok: 202, mutates: true,
    call: (t) => ({ method: 'POST', url: `${webhookUrl(t)}/deliveries/${t.eventId}/redeliver` }), prepare: prepareWebhook,
  },
  {
    name: 'ping a webhook', operationId: 'postRecordingWebhookPing', scope: 'webhook', ok: 202, mutates: true,
    call: (t) => ({ method: 'POST', url: `${webhookUrl(t)}/ping` }), prepare: prepareWebhook,
  },
]

/**
 * Not in the table: reading a batch download, which only the client that submitted it may do (anyone else: 404);
 * test/routes/batch-downloads.test.ts checks who may read one.
 */
const OWN_CLIENT_ONLY = new Set(['getRecordingBatchrequest'])

const send = (token: string, { method, url, payload, contentType }: Call) =>
  ctx.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': contentType ?? 'application/json' } : {}) },
    ...(payload ? { payload: payload as Buffer } : {}),
  })

const idOf = (value: { id?: string } | undefined, what: string): string => {
  if (!value?.id) throw new Error(`missing ${what}`)
  return value.id
}

/** Ingests a recording with one client annotation (plus the fixture's system one) as `token`'s organization. */
async function arrange(token: string, conversationId = randomUUID(), name = 'recording'): Promise<Target & { recording: Recording }> {
  const res = await send(token, {
    method: 'POST',
    url: recordingsUrl(conversationId),
    payload: { ...audioRecording, name, annotations: audioRecording.annotations.map((a) => ({ ...a, name: `${name} ${a.name}` })) },
  })
  expect(res.statusCode, res.body).toBe(201)
  const recording = res.json<Recording>()
  const annotation = recording.annotations?.find((a) => a.reason === undefined)
  return {
    conversationId, recordingId: idOf(recording, 'recording'), annotationId: idOf(annotation, 'client annotation'), recording,
    webhookId: randomUUID(), eventId: randomUUID(),
  }
}

/** A read's comparable outcome: status and body, or status and code for errors (their contextId differs). */
async function read(token: string, call: Call) {
  const res = await send(token, call)
  return res.statusCode < 300 ? [res.statusCode, res.json()] : [res.statusCode, res.json<{ code: string }>().code]
}

/** What a request could change: row counts, and the conversation's recordings (with annotations) as read back. */
async function snapshot(token: string, target: Target) {
  return {
    counts: await rowCounts(ctx.sql),
    list: await read(token, { method: 'GET', url: recordingsUrl(target.conversationId) }),
    one: await read(token, { method: 'GET', url: recordingUrl(target) }),
    settings: await read(token, { method: 'GET', url: SETTINGS_URL }),
    protection: await read(token, { method: 'POST', url: PROTECTION_URL, payload: { conversationIds: [target.conversationId] } }),
    batches: (await ctx.sql.query<{ n: string }>('SELECT count(*) AS n FROM batch_downloads')).rows[0]?.n,
    // Counts that only requests change: a job's background collection (PENDING to READY) and processing (to FULFILLED)
    // move no job between them.
    jobs: (await ctx.sql.query(`SELECT count(*) AS n, count(*) FILTER (WHERE state = 'CANCELLED') AS cancelled,
      count(*) FILTER (WHERE state IN ('PROCESSING', 'FULFILLED', 'FAILED')) AS executed FROM recording_jobs`)).rows[0],
    policies: (await ctx.sql.query<{ p: string | null }>(`SELECT string_agg(id || name || enabled, ',' ORDER BY id) AS p FROM retention_policies`)).rows[0]?.p,
    webhooks: (await ctx.sql.query<{ n: string }>('SELECT count(*) AS n FROM webhooks')).rows[0]?.n,
    webhook: (await ctx.sql.query('SELECT name, url, events, enabled, secret, updated_at FROM webhooks WHERE id = $1', [target.webhookId])).rows,
    deliveries: (await ctx.sql.query(
      'SELECT event_id, state, attempts, next_attempt_at FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY seq', [target.webhookId],
    )).rows,
  }
}

interface OpenApiOperation {
  operationId?: string
  security?: Record<string, string[]>[]
}

/** Each /api/v2 operation's permission alternatives as the OpenAPI document states them (one list of scopes each). */
let alternativesOf: Map<string, Permission[][]>
beforeAll(async () => {
  const res = await ctx.app.inject({ method: 'GET', url: '/openapi.json' })
  expect(res.statusCode).toBe(200)
  const { paths } = res.json<{ paths: Record<string, Record<string, OpenApiOperation>> }>()
  alternativesOf = new Map(
    Object.entries(paths)
      .filter(([path]) => path.startsWith('/api/v2/'))
      .flatMap(([, operations]) => Object.values(operations))
      .map((operation) => [operation.operationId ?? '?', (operation.security ?? []).map((requirement) => (requirement[SECURITY_SCHEME] ?? []) as Permission[])]),
  )
})

const alternatives = (operation: Operation): Permission[][] => {
  const found = alternativesOf.get(operation.operationId)
  if (!found) throw new Error(`${operation.operationId} is not in the OpenAPI document`)
  return found
}

describe('the operation table', () => {
  it('covers every /api/v2 operation of the OpenAPI document, and nothing else', () => {
    // tus uploads speak their own protocol (its headers, upload ids made by an earlier request): uploads.test.ts
    // checks who may use them.
    const tus = (operationId: string) => /RecordingUploads?$/.test(operationId)
    expect([...new Set(OPERATIONS.map((o) => o.operationId))].sort()).toEqual([...alternativesOf.keys()].filter((id) => !tus(id) && !OWN_CLIENT_ONLY.has(id)).sort())
  })

  it('gives every operation a non-empty rule whose permissions are one REQUIRES entry', () => {
    const rules = Object.values(REQUIRES).map((list) => [...list].sort())
    for (const [operationId, alts] of alternativesOf) {
      expect(alts.length, operationId).toBeGreaterThan(0)
      for (const scopes of alts) expect(scopes.length, operationId).toBeGreaterThan(0)
      expect(rules, operationId).toContainEqual(alts.flat().sort())
    }
  })
})

describe('permission matrix', () => {
  it.each(OPERATIONS.map((o) => [o.name, o] as const))(
    '%s: 403 missing.permissions naming what it needs, for a token without any of it, and nothing changes',
    async (_name, operation) => {
      const needed = [...new Set(alternatives(operation).flat())]
      const target = await arrange(await ctx.token())
      const all = await ctx.token()
      for (const held of [ALL_PERMISSIONS.filter((p) => !needed.includes(p)), []]) {
        const before = await snapshot(all, target)
        const token = await ctx.token(held)
        const res = await send(token, operation.call(target))
        const body = expectErrorBody(res, 403)
        expect(body.code).toBe('missing.permissions')
        for (const permission of needed) expect(body.message).toContain(permission)
        expect(await snapshot(all, target)).toEqual(before)
        // The same answer for an id that does not exist: a 403 tells nothing about what is stored.
        const unknown = await send(token, operation.call({ ...target, recordingId: randomUUID(), annotationId: randomUUID() }))
        expect(unknown.statusCode).toBe(403)
        expect(unknown.json()).toMatchObject({ code: body.code, message: body.message })
      }
    },
  )

  it.each(OPERATIONS.map((o) => [o.name, o] as const))(
    '%s: succeeds with exactly one of its alternatives, each of them',
    async (_name, operation) => {
      const all = await ctx.token()
      for (const scopes of alternatives(operation)) {
        const target = await arrange(all)
        await operation.prepare?.(target)
        const before = await snapshot(all, target)
        const res = await send(await ctx.token(scopes), operation.call(target))
        const onlyWith = operation.onlyWith === undefined ? undefined : [operation.onlyWith].flat()
        if (onlyWith && !scopes.some((scope) => onlyWith.includes(scope))) {
          // Passes the route's rule, but this variant needs another of its permissions.
          const body = expectErrorBody(res, 403)
          expect(body.code, scopes.join()).toBe('missing.permissions')
          for (const needed of onlyWith) expect(body.message, scopes.join()).toContain(needed)
          expect(await snapshot(all, target), scopes.join()).toEqual(before)
          continue
        }
        expect(res.statusCode, `${scopes.join()}: ${res.body}`).toBe(operation.ok)
        if (operation.mutates) expect(await snapshot(all, target), scopes.join()).not.toEqual(before)
        else expect(await snapshot(all, target), scopes.join()).toEqual(before)
      }
    },
  )

  describe('annotation upserts: add creates, edit changes', () => {
    const ADD: Permission[] = ['recording:annotation:add']
    const EDIT: Permission[] = ['recording:annotation:edit']

    const annotationRow = async (id: string) =>
      (await ctx.sql.query<Record<string, unknown>>('SELECT name, location, recording_id FROM annotations WHERE id = $1', [id])).rows[0]

    it('a token with only edit cannot create, by POST or by PUT of a new id', async () => {
      const all = await ctx.token()
      const target = await arrange(all)
      const before = await snapshot(all, target)
      const fresh = randomUUID()
      for (const call of [
        { method: 'POST', url: annotationsUrl(target), payload: { name: 'new' } },
        { method: 'POST', url: annotationsUrl(target), payload: { id: fresh, name: 'new' } },
        { method: 'PUT', url: `${annotationsUrl(target)}/${fresh}`, payload: { name: 'new' } },
      ] satisfies Call[]) {
        const body = expectErrorBody(await send(await ctx.token(EDIT), call), 403)
        expect(body.code).toBe('missing.permissions')
        expect(body.message).toMatch(/creating an annotation needs recording:annotation:add/)
      }
      expect(await snapshot(all, target)).toEqual(before)
      expect(await annotationRow(fresh)).toBeUndefined()
      // The control: with add, the same PUT creates.
      expect((await send(await ctx.token(ADD), { method: 'PUT', url: `${annotationsUrl(target)}/${fresh}`, payload: { name: 'new' } })).statusCode).toBe(200)
      expect(await annotationRow(fresh)).toMatchObject({ name: 'new', recording_id: target.recordingId })
    })

    it('a token with only add cannot change an existing annotation, by POST with its id or by PUT', async () => {
      const all = await ctx.token()
      const target = await arrange(all)
      const stored = await annotationRow(target.annotationId)
      const before = await snapshot(all, target)
      for (const call of [
        { method: 'POST', url: annotationsUrl(target), payload: { id: target.annotationId, name: 'changed' } },
        { method: 'PUT', url: `${annotationsUrl(target)}/${target.annotationId}`, payload: { name: 'changed' } },
      ] satisfies Call[]) {
        const body = expectErrorBody(await send(await ctx.token(ADD), call), 403)
        expect(body.code).toBe('missing.permissions')
        expect(body.message).toMatch(/changing an annotation needs recording:annotation:edit/)
      }
      expect(await snapshot(all, target)).toEqual(before)
      expect(await annotationRow(target.annotationId)).toEqual(stored)
      // The control: with edit, the same PUT changes it.
      const res = await send(await ctx.token(EDIT), { method: 'PUT', url: `${annotationsUrl(target)}/${target.annotationId}`, payload: { name: 'changed' } })
      expect(res.statusCode).toBe(200)
      expect(await annotationRow(target.annotationId)).toMatchObject({ name: 'changed' })
    })
  })
})

describe('two organizations', () => {
  const SECRET = 'org-a-only'
  let orgB: string
  let tokenA: string
  let tokenB: string
  /** Conversation ids: one where both organizations have recordings, one where only A has. */
  const shared = randomUUID()
  const onlyA = randomUUID()
  let a: Target & { recording: Recording }
  let b: Target & { recording: Recording }
  const aRecordingIds: string[] = []

  beforeAll(async () => {
    orgB = await createOrganization(ctx, 'org-b')
    tokenA = await ctx.token()
    tokenB = await ctx.token(ALL_PERMISSIONS, orgB)
    a = await arrange(tokenA, shared, `${SECRET} first`)
    await prepareWebhook(a)
    const second = await arrange(tokenA, shared, `${SECRET} second`)
    const elsewhere = await arrange(tokenA, onlyA, `${SECRET} elsewhere`)
    aRecordingIds.push(a.recordingId, second.recordingId)
    b = await arrange(tokenB, shared, 'org b recording')
    expect(new Set([a.recordingId, second.recordingId, elsewhere.recordingId, b.recordingId]).size).toBe(4)
  })

  /** Everything A has, as A reads it, and the row counts: B's requests must leave all of it as it was. */
  async function stateOfA() {
    return {
      counts: await rowCounts(ctx.sql),
      shared: await read(tokenA, { method: 'GET', url: recordingsUrl(shared) }),
      onlyA: await read(tokenA, { method: 'GET', url: recordingsUrl(onlyA) }),
      annotations: await read(tokenA, { method: 'GET', url: annotationsUrl(a) }),
      metadata: await read(tokenA, { method: 'GET', url: metadataUrl(a) }),
      webhook: await read(tokenA, { method: 'GET', url: webhookUrl(a) }),
      webhookDeliveries: await read(tokenA, { method: 'GET', url: `${webhookUrl(a)}/deliveries` }),
      webhookSecret: (await ctx.sql.query('SELECT secret FROM webhooks WHERE id = $1', [a.webhookId])).rows,
    }
  }

  /** A 404's comparable shape: the ids it names replaced by what they stand for. */
  function notFoundShape(res: LightMyRequestResponse, target: Target) {
    const body = expectErrorBody(res, 404)
    const general = (text: string | undefined) =>
      text
        ?.split(target.conversationId).join('<conversation>')
        .split(target.recordingId).join('<recording>')
        .split(target.annotationId).join('<annotation>')
        .split(target.webhookId).join('<webhook>')
        .split(target.eventId).join('<event>')
    return { status: body.status, code: body.code, message: general(body.message), entityName: body.entityName, entityId: general(body.entityId) }
  }

  const unknownIds = (target: Target): Target => ({ ...target, recordingId: randomUUID(), annotationId: randomUUID(), webhookId: randomUUID(), eventId: randomUUID() })


  interface Case {
    label: string
    operation: Operation
    token(): string
    /** The ids the request addresses. */
    target(): Target
    /** Ids that exist nowhere, for the reference answer. */
    unknown(): Target
    /** The reference request for those ids; the same operation unless given. */
    reference?: (t: Target) => Call
  }

  /** Row by row: what B addresses with A's ids, and the unknown ids whose answer it must equal. */
  const cases = OPERATIONS.flatMap((operation): Case[] => {
    switch (operation.scope) {
      case 'ingest':
        return []
      case 'organization':
        // Addresses no ids: shown below to list only the caller's own recordings.
        return []
      case 'conversation':
        return [{
          label: `${operation.name}: a conversation only A has recordings in`, operation, token: () => tokenB,
          target: () => ({ conversationId: onlyA, recordingId: '-', annotationId: '-', webhookId: '-', eventId: '-' }),
          unknown: () => ({ conversationId: randomUUID(), recordingId: '-', annotationId: '-', webhookId: '-', eventId: '-' }),
        }]
      case 'recording':
      case 'annotation': {
        const rows: Case[] = [
          { label: `${operation.name}: A's recording (and annotation) ids`, operation, token: () => tokenB, target: () => a as Target, unknown: () => unknownIds(a) },
          // Not an organization matter but the same scoping: A's own ids under another conversation id.
          {
            label: `${operation.name}: A's ids under another conversation, as A`, operation, token: () => tokenA,
            target: () => ({ ...a, conversationId: onlyA }), unknown: () => unknownIds({ ...a, conversationId: onlyA }),
          },
        ]
        return rows
      }
      case 'webhook':
        return [{ label: `${operation.name}: A's webhook (and delivery) ids`, operation, token: () => tokenB, target: () => a as Target, unknown: () => unknownIds(a) }]
    }
    throw new Error(`no cases for the scope ${operation.scope satisfies never}`)
  })

  it.each(cases.map((c) => [c.label, c] as const))('%s: 404 exactly as for unknown ids, and A keeps everything', async (_label, c) => {
    const before = await stateOfA()
    const target = c.target()
    const res = await send(c.token(), c.operation.call(target))
    const shape = notFoundShape(res, target)
    expect(res.body).not.toContain(SECRET)

    const unknownTarget = c.unknown()
    const reference = (c.reference ?? c.operation.call)(unknownTarget)
    expect(shape).toEqual(notFoundShape(await send(c.token(), reference), unknownTarget))

    expect(await stateOfA()).toEqual(before)
    for (const id of aRecordingIds) expect((await send(tokenA, { method: 'GET', url: recordingUrl({ ...a, recordingId: id }) })).statusCode).toBe(200)
  })

  // Annotation ids are scoped to their recording: A's annotation id used under B's own recording is, to B, an id that
  // does not exist there. B's answer must be the one for a fresh UUID (a 404 for reads and deletes, a new annotation
  // of B's for the Genesys upserts), and A's annotation stays as it was.
  it.each(OPERATIONS.filter((o) => o.scope === 'annotation').map((o) => [o.name, o] as const))(
    "%s: A's annotation id under B's own recording answers as a fresh id would and leaves A alone",
    async (_name, operation) => {
      const before = await stateOfA()
      // Two recordings of B's, so that what one request creates cannot change the other's answer.
      const taken = { ...(await arrange(tokenB, randomUUID(), 'org b, taken id')), annotationId: a.annotationId }
      const freshTarget = await arrange(tokenB, randomUUID(), 'org b, fresh id')
      const fresh = { ...freshTarget, annotationId: randomUUID() }
      const withTaken = await send(tokenB, operation.call(taken))
      const withFresh = await send(tokenB, operation.call(fresh))
      expect(withTaken.statusCode).toBe(withFresh.statusCode)
      expect(withTaken.body.split(taken.annotationId).join('<id>').split(taken.recordingId).join('<recording>'))
        .not.toContain(SECRET)
      if (withFresh.statusCode === 404) expect(notFoundShape(withTaken, taken)).toEqual(notFoundShape(withFresh, fresh))
      const { counts: _counts, ...aData } = before
      const { counts: _after, ...aDataAfter } = await stateOfA()
      expect(aDataAfter).toEqual(aData)
    },
  )

  it.each(['search recordings', 'list recordings', 'list recording metadata'])('%s of the shared conversation shows each organization only its own', async (name) => {
    const operation = OPERATIONS.find((o) => o.name === name)
    if (!operation) throw new Error(name)
    const asA = await send(tokenA, operation.call(a))
    const asB = await send(tokenB, operation.call(b))
    expect(asA.statusCode).toBe(200)
    expect(asB.statusCode).toBe(200)
    // A bare array, or the search's cursor listing.
    const ids = (res: LightMyRequestResponse) => {
      const body = res.json<{ id: string }[] | { entities: { id: string }[] }>()
      return (Array.isArray(body) ? body : body.entities).map((r) => r.id)
    }
    expect(ids(asA).sort()).toEqual([...aRecordingIds].sort())
    expect(ids(asB)).toEqual([b.recordingId])
    expect(asB.body).not.toContain(SECRET)
  })

  it('organization-wide search never shows another organization, whatever the filters', async () => {
    for (const url of ['/api/v2/recordings', '/api/v2/recordings?pageSize=100', `/api/v2/recordings?q=${encodeURIComponent(SECRET.split('-')[0] ?? 'org')}`]) {
      const asB = await send(tokenB, { method: 'GET', url })
      expect(asB.statusCode).toBe(200)
      expect(asB.body).not.toContain(SECRET)
      for (const id of aRecordingIds) expect(asB.body).not.toContain(id)
    }
  })

  it("lists only the recording's own annotations", async () => {
    const asB = await send(tokenB, { method: 'GET', url: annotationsUrl(b) })
    expect(asB.statusCode).toBe(200)
    expect(asB.json<Annotation[]>().map((x) => x.id).sort()).toEqual((b.recording.annotations ?? []).map((x) => x.id).sort())
    expect(asB.body).not.toContain(SECRET)
    expect(asB.body).not.toContain(a.annotationId)
  })

  it("B's ingest into the shared conversation is B's alone", async () => {
    const before = await stateOfA()
    const ingest = OPERATIONS.find((o) => o.scope === 'ingest')
    if (!ingest) throw new Error('no ingest row')
    const res = await send(tokenB, ingest.call(b))
    expect(res.statusCode, res.body).toBe(201)
    const { counts: countsBefore, ...restBefore } = before
    const { counts, ...rest } = await stateOfA()
    expect(rest).toEqual(restBefore)
    expect(counts.recordings).toBe((countsBefore.recordings ?? NaN) + 1)
    const listB = (await send(tokenB, { method: 'GET', url: recordingsUrl(shared) })).json<Recording[]>().map((r) => r.id)
    expect(listB).toEqual([b.recordingId, res.json<Recording>().id])
  })

  it.each(OPERATIONS.map((o) => [o.name, o] as const))('control: B can %s on its own data', async (_name, operation) => {
    const own = await arrange(tokenB)
    await operation.prepare?.(own)
    const res = await send(tokenB, operation.call(own))
    expect(res.statusCode, res.body).toBe(operation.ok)
    expect(res.body).not.toContain(SECRET)
  })
})
