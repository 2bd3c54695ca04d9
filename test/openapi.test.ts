import SwaggerParser from '@apidevtools/swagger-parser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, type TestContext } from './helpers.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

type Operation = { operationId?: string; summary?: string; tags?: string[]; responses?: Record<string, unknown> }

describe('OpenAPI document', () => {
  it('is a valid OpenAPI 3 document', async () => {
    const res = await ctx.inject({ method: 'GET', url: '/openapi.json' })
    expect(res.statusCode).toBe(200)
    const document = res.json<{ openapi: string }>()
    expect(document.openapi).toMatch(/^3\./)
    await expect(SwaggerParser.validate(structuredClone(document) as never)).resolves.toBeTruthy()
  })

  it('lists every route with an operationId, summary, tags and its responses', async () => {
    const { paths } = (await ctx.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, Operation>> }>()
    const operations = Object.entries(paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ route: `${method.toUpperCase()} ${path}`, ...operation })),
    )
    const recordings = '/api/v2/conversations/{conversationId}/recordings'
    const annotations = `${recordings}/{recordingId}/annotations`
    const metadata = '/api/v2/conversations/{conversationId}/recordingmetadata'
    expect(operations.map((o) => o.route).sort()).toEqual(
      [
        `POST ${recordings}`,
        `GET ${recordings}`,
        `GET ${recordings}/{recordingId}`,
        `PUT ${recordings}/{recordingId}`,
        `DELETE ${recordings}/{recordingId}`,
        `PUT ${recordings}/{recordingId}/media`,
        `GET ${annotations}`,
        `POST ${annotations}`,
        `GET ${annotations}/{annotationId}`,
        `PUT ${annotations}/{annotationId}`,
        `DELETE ${annotations}/{annotationId}`,
        `GET ${metadata}`,
        `GET ${metadata}/{recordingId}`,
        'GET /health/live',
        'GET /health/ready',
        'POST /oauth/token',
        'GET /api/v2/recordings',
        'GET /media/{organizationId}/{recordingId}/{rendition}',
        'POST /api/v2/recordings/uploads',
        'OPTIONS /api/v2/recordings/uploads',
        'HEAD /api/v2/recordings/uploads/{uploadId}',
        'PATCH /api/v2/recordings/uploads/{uploadId}',
        'DELETE /api/v2/recordings/uploads/{uploadId}',
        'OPTIONS /api/v2/recordings/uploads/{uploadId}',
        'GET /api/v2/recording/settings',
        'PUT /api/v2/recording/settings',
        'POST /api/v2/recordings/deletionprotection',
        'PUT /api/v2/recordings/deletionprotection',
        'GET /api/v2/recordings/retention/query',
        'POST /api/v2/recording/batchrequests',
        'GET /api/v2/recording/batchrequests/{jobId}',
        'POST /api/v2/recording/jobs',
        'GET /api/v2/recording/jobs',
        'GET /api/v2/recording/jobs/{jobId}',
        'PUT /api/v2/recording/jobs/{jobId}',
        'DELETE /api/v2/recording/jobs/{jobId}',
        'GET /api/v2/recording/jobs/{jobId}/failedrecordings',
        ...['/api/v2/recording/mediaretentionpolicies', '/api/v2/recording/crossplatform/mediaretentionpolicies'].flatMap((policies) => [
          `GET ${policies}`, `POST ${policies}`, `DELETE ${policies}`, `GET ${policies}/{policyId}`, `PUT ${policies}/{policyId}`,
          `PATCH ${policies}/{policyId}`, `DELETE ${policies}/{policyId}`,
        ]),
        'POST /api/v2/recording/webhooks',
        'GET /api/v2/recording/webhooks',
        'GET /api/v2/recording/webhooks/{webhookId}',
        'PUT /api/v2/recording/webhooks/{webhookId}',
        'DELETE /api/v2/recording/webhooks/{webhookId}',
        'POST /api/v2/recording/webhooks/{webhookId}/secret',
        'GET /api/v2/recording/webhooks/{webhookId}/deliveries',
        'POST /api/v2/recording/webhooks/{webhookId}/deliveries/{eventId}/redeliver',
        'POST /api/v2/recording/webhooks/{webhookId}/ping',
      ].sort(),
    )
    for (const operation of operations) {
      expect(operation.operationId, operation.route).toBeTruthy()
      expect(operation.summary, operation.route).toBeTruthy()
      expect(operation.tags?.length, operation.route).toBeGreaterThan(0)
    }
    const byId = Object.fromEntries(operations.map((o) => [o.operationId, o]))
    expect(Object.keys(byId.getConversationRecording?.responses ?? {}).sort()).toEqual(['200', '202', '304', '400', '401', '403', '404', '429', '500', '503'])
    expect(Object.keys(byId.postConversationRecording?.responses ?? {}).sort()).toEqual(['201', '400', '401', '403', '409', '413', '415', '422', '429', '500', '503'])
    expect(Object.keys(byId.deleteConversationRecordingAnnotation?.responses ?? {}).sort()).toEqual(['204', '400', '401', '403', '404', '412', '429', '500', '503'])
    expect(Object.keys(byId.putConversationRecordingMedia?.responses ?? {}).sort()).toEqual(['200', '400', '401', '403', '404', '409', '413', '415', '429', '500', '503'])
    expect(byId.getConversationRecording?.responses?.['404']).toMatchObject({
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/ErrorBody' } } },
    })
  })

  it('documents Idempotency-Key on creates, If-Match / If-None-Match and ETag on reads and writes', async () => {
    type Parameter = { in: string; name: string }
    type Operations = Record<string, Operation & { parameters?: Parameter[]; responses?: Record<string, { headers?: Record<string, unknown> }> }>
    const { paths } = (await ctx.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Operations> }>()
    const byId = Object.fromEntries(Object.values(paths).flatMap((methods) => Object.values(methods)).map((o) => [o.operationId, o]))
    const headersOf = (id: string) => (byId[id]?.parameters ?? []).filter((p: Parameter) => p.in === 'header').map((p: Parameter) => p.name)
    const statusesOf = (id: string) => Object.keys(byId[id]?.responses ?? {})
    const responseHeadersOf = (id: string, status: string) => Object.keys(byId[id]?.responses?.[status]?.headers ?? {}).sort()

    for (const id of ['postConversationRecording', 'postConversationRecordingAnnotations']) {
      expect(headersOf(id), id).toContain('Idempotency-Key')
      expect(statusesOf(id), id).toEqual(expect.arrayContaining(['409', '422']))
    }
    expect(responseHeadersOf('postConversationRecording', '201')).toEqual(['ETag', 'Idempotent-Replayed'])
    expect(responseHeadersOf('postConversationRecordingAnnotations', '200')).toEqual(['ETag', 'Idempotent-Replayed'])
    for (const id of ['getConversationRecording', 'getConversationRecordingAnnotation']) {
      expect(headersOf(id), id).toEqual(['If-None-Match'])
      expect(statusesOf(id), id).toContain('304')
      expect(responseHeadersOf(id, '200'), id).toEqual(['ETag'])
    }
    for (const id of ['putConversationRecording', 'putConversationRecordingAnnotation']) {
      expect(headersOf(id), id).toEqual(['If-Match'])
      expect(statusesOf(id), id).toContain('412')
      expect(responseHeadersOf(id, '200'), id).toEqual(['ETag'])
    }
    for (const id of ['deleteConversationRecording', 'deleteConversationRecordingAnnotation']) {
      expect(headersOf(id), id).toEqual(['If-Match'])
      expect(statusesOf(id), id).toContain('412')
    }
  })

  it('declares the OAuth client-credentials scheme and the permissions of every API operation', async () => {
    const document = (await ctx.inject({ method: 'GET', url: '/openapi.json' })).json<{
      components: { securitySchemes: Record<string, { type: string; flows: { clientCredentials: { tokenUrl: string; scopes: Record<string, string> } } }> }
      paths: Record<string, Record<string, Operation & { security?: Record<string, string[]>[] }>>
    }>()
    const scheme = document.components.securitySchemes['PureCloud OAuth']
    expect(scheme).toMatchObject({ type: 'oauth2', flows: { clientCredentials: { tokenUrl: '/oauth/token' } } })
    expect(Object.keys(scheme?.flows.clientCredentials.scopes ?? {})).toContain('recording:recording:view')
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        if (!path.startsWith('/api/v2/')) {
          expect(operation.security, `${method} ${path} is public`).toBeUndefined()
          continue
        }
        expect(operation.security?.length, `${method} ${path}`).toBeGreaterThan(0)
      }
    }
    expect(document.paths['/api/v2/conversations/{conversationId}/recordings/{recordingId}']?.put?.security).toEqual([
      { 'PureCloud OAuth': ['recording:recording:editRetention'] },
      { 'PureCloud OAuth': ['recording:screenRecording:editRetention'] },
      { 'PureCloud OAuth': ['recording:snippetRecording:editRetention'] },
      { 'PureCloud OAuth': ['recording:recording:restore'] },
      { 'PureCloud OAuth': ['recording:screenRecording:restore'] },
      { 'PureCloud OAuth': ['recording:snippetRecording:restore'] },
    ])
  })

  it('serves Swagger UI at /docs', async () => {
    const res = await ctx.inject({ method: 'GET', url: '/docs/' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/text\/html/)
    expect(res.body).toContain('swagger')
  })
})
