import type { FastifyServerOptions } from 'fastify'
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Ajv, type Options as AjvOptions } from 'ajv'
import addFormats from 'ajv-formats'
import { randomUUID } from 'node:crypto'
import contentParsers from './plugins/content-parsers.js'
import errorHandler from './plugins/error-handler.js'
import organization from './plugins/organization.js'
import prismaPlugin from './plugins/prisma.js'
import services from './plugins/services.js'
import swagger from './plugins/swagger.js'
import { annotationRoutes } from './routes/annotations.js'
import { healthRoutes } from './routes/health.js'
import { parseQueryString } from './routes/query.js'
import { recordingMetadataRoutes } from './routes/recording-metadata.js'
import { recordingRoutes } from './routes/recordings.js'

export interface AppOptions {
  databaseUrl: string
  databasePoolSize?: number
  /** Names of the migrations this build ships; readiness waits until all are applied. */
  migrations: string[]
  logger?: FastifyServerOptions['loggerInstance'] | boolean
}

const BODY_LIMIT = 512_000

/** Incoming ids are kept when they look like ids, so a caller's correlation id shows up in our logs. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{8,64}$/

/** One log line per request, when it completes, carrying its id, status and duration. */
class RequestLog extends LogController {
  override incomingRequest() {}
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply) {
    const line = { method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else reply.log.info(line, 'request completed')
  }
}

/**
 * Ajv for each request part: bodies are checked as sent (a number is not a string, null is not ""), while path and
 * query values, which always arrive as text, are coerced to the declared types. Every problem is reported.
 */
function validatorCompiler() {
  const base: AjvOptions = { allErrors: true, removeAdditional: false, useDefaults: true, strict: false }
  const body = addFormats.default(new Ajv({ ...base, coerceTypes: false }))
  const other = addFormats.default(new Ajv({ ...base, coerceTypes: 'array' }))
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) =>
    (httpPart === 'body' ? body : other).compile(schema)
}

export async function buildApp({ databaseUrl, databasePoolSize = 10, migrations, logger = false }: AppOptions) {
  const app = Fastify({
    ...(typeof logger === 'object' ? { loggerInstance: logger } : { logger }),
    bodyLimit: BODY_LIMIT,
    genReqId: (request) => {
      const given = request.headers['inin-correlation-id'] ?? request.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    logController: new RequestLog(),
    routerOptions: { querystringParser: parseQueryString, ignoreTrailingSlash: true },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(validatorCompiler())

  // Genesys answers carry the request's correlation id; so do ours (it is also the contextId of error bodies).
  app.addHook('onRequest', async (request, reply) => {
    reply.header('inin-correlation-id', request.id)
  })

  await app.register(errorHandler)
  await app.register(contentParsers)
  await app.register(prismaPlugin, { databaseUrl, poolSize: databasePoolSize })
  await app.register(swagger)
  await app.register(organization)
  await app.register(services, { migrations })

  await app.register(healthRoutes)
  const conversation = '/api/v2/conversations/:conversationId'
  await app.register(recordingRoutes, { prefix: `${conversation}/recordings` })
  await app.register(annotationRoutes, { prefix: `${conversation}/recordings/:recordingId/annotations` })
  await app.register(recordingMetadataRoutes, { prefix: `${conversation}/recordingmetadata` })
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
