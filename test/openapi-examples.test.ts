import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXAMPLE_BATCH_ID } from '../src/schemas/batch-downloads.js'
import { EXAMPLE_JOB_ID } from '../src/schemas/recording-jobs.js'
import { EXAMPLE_IDS } from '../src/schemas/common.js'
import { EXAMPLE_CROSSPLATFORM_POLICY_ID, EXAMPLE_POLICY_ID } from '../src/schemas/retention-policies.js'
import { EXAMPLE_WEBHOOK_EVENT_ID, EXAMPLE_WEBHOOK_ID } from '../src/schemas/webhooks.js'
import { STORED_RENDITION } from '../src/services/media-urls.js'
import { DEFAULT_ORGANIZATION_ID } from '../src/services/organizations.js'
import { createTestContext, eventually, type TestContext } from './helpers.js'
import { wav } from './media.js'

/**
 * Swagger UI's "Try it out" sends each operation's documented examples as they are: path and query parameters from
 * their `example`, the body from the media type's `example`. Every one of those calls must succeed, in the order a
 * newcomer would try them (create first, delete last), or the first thing a reader of /docs sees is an error.
 */

type Parameter = { name: string; in: 'path' | 'query' | 'header' | 'cookie'; example?: unknown; required?: boolean }
type Media = { example?: unknown; examples?: Record<string, { value: unknown }> }
type Operation = {
  operationId: string
  parameters?: Parameter[]
  requestBody?: { content: Record<string, Media> }
  security?: unknown[]
}
type Document = { paths: Record<string, Record<string, Operation>> }

interface ExampleCall {
  operationId: string
  method: string
  path: string
  url: string
  contentType?: string
  payload?: string | Buffer
  /** The body is a file (`format: binary`), which Swagger UI asks the user to pick rather than filling in an example. */
  file?: boolean
  secured: boolean
}

const exampleOf = (media: Media) => media.example ?? Object.values(media.examples ?? {})[0]?.value

/** The request Swagger UI builds for an operation from its examples alone. */
function exampleCall(path: string, method: string, operation: Operation): ExampleCall {
  const parameters = operation.parameters ?? []
  let url = path
  for (const parameter of parameters.filter((p) => p.in === 'path')) {
    expect(parameter.example, `${operation.operationId}: path parameter ${parameter.name} has no example`).toEqual(expect.any(String))
    url = url.replace(`{${parameter.name}}`, encodeURIComponent(String(parameter.example)))
  }
  const query = new URLSearchParams()
  for (const parameter of parameters.filter((p) => p.in === 'query' && p.example !== undefined)) {
    query.append(parameter.name, String(parameter.example))
  }
  if (query.size > 0) url += `?${query.toString()}`
  const call: ExampleCall = { operationId: operation.operationId, method: method.toUpperCase(), path, url, secured: (operation.security?.length ?? 0) > 0 }
  const content = operation.requestBody?.content
  const [fileType, fileMedia] = Object.entries(content ?? {})[0] ?? []
  if (content && (fileMedia as { schema?: { format?: string } } | undefined)?.schema?.format === 'binary') {
    // The file a user would pick: a short WAV recording.
    Object.assign(call, { contentType: fileType, payload: wav(0.5), file: true })
  } else if (content) {
    const [contentType, media] = Object.entries(content)[0] ?? []
    expect(media && exampleOf(media), `${operation.operationId}: request body has no example`).toBeDefined()
    const example = exampleOf(media as Media)
    call.contentType = contentType
    call.payload = contentType === 'application/x-www-form-urlencoded'
      ? new URLSearchParams(example as Record<string, string>).toString()
      : JSON.stringify(example)
  }
  return call
}

/** Creates before reads before deletes; the ingest first of all, and a recording's children deleted before it. */
function tryItOrder(a: ExampleCall, b: ExampleCall): number {
  const rank = (call: ExampleCall) => ({ POST: 0, PUT: 1, GET: 2, DELETE: 3 })[call.method] ?? 2
  return rank(a) - rank(b) || (a.method === 'DELETE' ? b.path.length - a.path.length : a.path.length - b.path.length)
}

let ctx: TestContext
let document: Document
let calls: ExampleCall[]

beforeAll(async () => {
  ctx = await createTestContext()
  document = (await ctx.app.inject({ method: 'GET', url: '/openapi.json' })).json<Document>()
  calls = Object.entries(document.paths)
    // tus uploads need the protocol's headers and an upload made by an earlier request: no example alone can drive them.
    .filter(([path]) => !path.startsWith('/api/v2/recordings/uploads'))
    .flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => exampleCall(path, method, operation)))
    .sort(tryItOrder)
})
afterAll(async () => {
  await ctx.close()
})

describe('OpenAPI examples, sent as Swagger UI sends them', () => {
  it('are what the Swagger UI page at /docs loads, with "Try it out" already on', async () => {
    const page = await ctx.app.inject({ method: 'GET', url: '/docs' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.body).toContain('swagger-initializer.js')
    const initializer = await ctx.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
    expect(initializer.statusCode).toBe(200)
    expect(initializer.body).toContain('"tryItOutEnabled":true')
    expect(initializer.body).toContain("url: resolveUrl('./json')")
  })

  it('are the same in the document Swagger UI loads (/docs/json) as in /openapi.json', async () => {
    const ui = await ctx.app.inject({ method: 'GET', url: '/docs/json' })
    expect(ui.statusCode).toBe(200)
    expect(ui.json()).toEqual(document)
  })

  it('document a body example for every operation with a body, and the write routes are among them', () => {
    const withBody = calls.filter((call) => call.payload !== undefined).map((call) => call.operationId)
    expect(withBody).toEqual(expect.arrayContaining([
      'postConversationRecording', 'putConversationRecording', 'postConversationRecordingAnnotations',
      'putConversationRecordingAnnotation', 'postOauthToken', 'putConversationRecordingMedia',
    ]))
    // The ingest example leaves the conversation to the path, so body and path cannot disagree.
    const ingest = calls.find((call) => call.operationId === 'postConversationRecording')
    expect(JSON.parse(String(ingest?.payload ?? '{}'))).not.toHaveProperty('conversationId')
    expect(ingest?.url).toBe(`/api/v2/conversations/${EXAMPLE_IDS.conversationId}/recordings`)
  })

  it('every operation answers 2xx to its examples, in create-read-delete order', async () => {
    // What the examples name must exist: the client of the token example, and (below) the recording the ingest makes
    // under the documented recording id.
    const tokenBody = calls.find((call) => call.operationId === 'postOauthToken')?.payload ?? ''
    const form = new URLSearchParams(String(tokenBody))
    await ctx.app.services.clients.create({
      organization: 'swagger-ui', name: 'example', permissions: [], clientId: form.get('client_id') ?? '', clientSecret: form.get('client_secret') ?? '',
    })

    for (const call of calls) {
      if (call.file) {
        // The ingest example links its media, so that recording is AVAILABLE; an upload needs one still waiting for its
        // media, as a recording ingested without mediaUris is.
        await ctx.sql.query(`UPDATE recordings SET file_state = 'UPLOADING' WHERE id = $1`, [EXAMPLE_IDS.recordingId])
        await ctx.sql.query('DELETE FROM media_results WHERE recording_id = $1', [EXAMPLE_IDS.recordingId])
      }
      // A signed media URL cannot be a fixed example (the key is this installation's): the player gets one from the
      // recording's mediaUris; here, the app's signer makes one for the recording whose media the upload example stored.
      const signed = call.operationId === 'getMedia' || call.operationId === 'headMedia'
        ? new URL(ctx.app.services.mediaUrls.sign({
          organizationId: DEFAULT_ORGANIZATION_ID, recordingId: EXAMPLE_IDS.recordingId, rendition: STORED_RENDITION, expiresAt: new Date(Date.now() + 60_000),
        }))
        : undefined
      const url = signed ? `${signed.pathname}${signed.search}` : call.url
      const options = {
        method: call.method as 'GET',
        url,
        ...(call.payload !== undefined ? { payload: call.payload, headers: { 'content-type': call.contentType as string } } : {}),
      }
      const res = await (call.secured ? ctx.inject(options) : ctx.app.inject(options))
      // Soft: one report names every operation whose example fails, not only the first.
      expect.soft(res.statusCode, `${call.operationId} ${call.method} ${call.url}: ${res.body.slice(0, 500)}`).toBeGreaterThanOrEqual(200)
      expect.soft(res.statusCode, `${call.operationId} ${call.method} ${call.url}: ${res.body.slice(0, 500)}`).toBeLessThan(300)
      if (call.operationId === 'postConversationRecording' && res.statusCode === 201) {
        const created = res.json<{ id: string }>()
        await ctx.sql.query('UPDATE recordings SET id = $1 WHERE id = $2', [EXAMPLE_IDS.recordingId, created.id])
      }
      // Likewise the batch the submission example made is the one the documented GET asks for.
      if (call.operationId === 'postRecordingBatchrequests' && res.statusCode === 200) {
        await ctx.sql.query('UPDATE batch_downloads SET id = $1 WHERE id = $2', [EXAMPLE_BATCH_ID, res.json<{ id: string }>().id])
      }
      // And the recording job, once collected (READY, so that the execute example can run it).
      if (call.operationId === 'postRecordingJobs' && res.statusCode === 202) {
        const { id } = res.json<{ id: string }>()
        await eventually(async () => (await ctx.sql.query(`SELECT FROM recording_jobs WHERE id = $1 AND state = 'READY'`, [id])).rowCount === 1, 'the example job READY')
        await ctx.sql.query('UPDATE recording_jobs SET id = $1 WHERE id = $2', [EXAMPLE_JOB_ID, id])
      }
      // And the retention policy of each family the calls on one policy name.
      const policyExample = { postRecordingMediaretentionpolicies: EXAMPLE_POLICY_ID, postRecordingCrossplatformMediaretentionpolicies: EXAMPLE_CROSSPLATFORM_POLICY_ID }[call.operationId]
      if (policyExample && res.statusCode === 200) {
        await ctx.sql.query('UPDATE retention_policies SET id = $1 WHERE id = $2', [policyExample, res.json<{ id: string }>().id])
      }
      // And the webhook and ping event the other webhook operations name. The webhook is kept disabled: its example
      // target is a documentation address, where a delivery would only wait out its timeout.
      if (call.operationId === 'postRecordingWebhooks' && res.statusCode === 201) {
        await ctx.sql.query('UPDATE webhooks SET id = $1, enabled = false WHERE id = $2', [EXAMPLE_WEBHOOK_ID, res.json<{ id: string }>().id])
      }
      if (call.operationId === 'putRecordingWebhook' && res.statusCode === 200) {
        await ctx.sql.query('UPDATE webhooks SET enabled = false WHERE id = $1', [EXAMPLE_WEBHOOK_ID])
      }
      if (call.operationId === 'postRecordingWebhookPing' && res.statusCode === 202) {
        await ctx.sql.query('UPDATE webhook_events SET id = $1 WHERE id = $2', [EXAMPLE_WEBHOOK_EVENT_ID, res.json<{ eventId: string }>().eventId])
      }
    }
  })

  it('stores what the ingest example shows: plausible positions and retention in the future', async () => {
    const url = `/api/v2/conversations/${EXAMPLE_IDS.conversationId}/recordings`
    const ingest = calls.find((call) => call.operationId === 'postConversationRecording')
    const res = await ctx.inject({ method: 'POST', url, payload: ingest?.payload, headers: { 'content-type': 'application/json' } })
    expect(res.statusCode, res.body).toBe(201)
    const stored = res.json<{ annotations: { location: number }[]; archiveDate: string; deleteDate: string; fileState: string }>()
    expect(stored.fileState).toBe('AVAILABLE')
    expect(Date.parse(stored.archiveDate)).toBeGreaterThan(Date.now())
    expect(Date.parse(stored.deleteDate)).toBeGreaterThan(Date.parse(stored.archiveDate))
    for (const annotation of stored.annotations) expect(annotation.location).toBeLessThan(24 * 3_600_000)
  })
})
