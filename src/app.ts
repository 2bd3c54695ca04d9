import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import type { FastifyServerOptions } from 'fastify'
import Fastify, { type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { AddressInfo } from 'node:net'
import { availableParallelism } from 'node:os'
import { publicBaseUrl, type Config } from './config.js'
import { InvalidRequestError } from './errors.js'
import auth, { authenticate, authorize } from './plugins/auth.js'
import conditionalRequests from './plugins/conditional-requests.js'
import contentParsers from './plugins/content-parsers.js'
import draining from './plugins/draining.js'
import errorHandler, { answerClientError, errorBody, sendError } from './plugins/error-handler.js'
import idempotency from './plugins/idempotency.js'
import jobs from './plugins/jobs.js'
import prismaPlugin from './plugins/prisma.js'
import { RequestLog, requestIdOf } from './plugins/request-log.js'
import requestTimeouts from './plugins/request-timeouts.js'
import securityHeaders, { SECURITY_HEADERS } from './plugins/security-headers.js'
import { validatorCompiler } from './plugins/validation.js'
import services from './plugins/services.js'
import storableText from './plugins/storable-text.js'
import swagger from './plugins/swagger.js'
import { annotationRoutes } from './routes/annotations.js'
import { healthRoutes } from './routes/health.js'
import { oauthRoutes } from './routes/oauth.js'
import { parseQueryString } from './routes/query.js'
import { mediaRoutes } from './routes/media.js'
import { mediaPlaybackRoutes } from './routes/media-playback.js'
import { recordingMetadataRoutes } from './routes/recording-metadata.js'
import { recordingRoutes } from './routes/recordings.js'
import { searchRoutes } from './routes/search.js'
import { uploadRoutes } from './routes/uploads.js'
import { settingsRoutes } from './routes/settings.js'
import { deletionProtectionRoutes } from './routes/deletion-protection.js'
import { retentionQueryRoutes } from './routes/retention-query.js'
import { batchDownloadRoutes } from './routes/batch-downloads.js'
import { webhookRoutes } from './routes/webhooks.js'
import { recordingJobRoutes } from './routes/recording-jobs.js'
import { parseExportTargets } from './services/export-targets.js'
import { retentionPolicyRoutes } from './routes/retention-policies.js'
import { cursorKeyFrom } from './services/cursor.js'
import { mediaUrlKeyFrom } from './services/media-urls.js'
import { loadSigningKey } from './services/signing-key-service.js'
import { createMediaStorage } from './storage/media-storage.js'
import { UPLOADS_PATH } from './services/upload-service.js'
import { defineTasks } from './tasks.js'
import { ffmpegPath } from './media/ffmpeg.js'

export interface AppOptions {
  config: Config
  /** The database to use (DATABASE_URL, or the embedded server's URL). */
  databaseUrl: string
  /** Names of the migrations this build ships; readiness waits until all are applied. */
  migrations: string[]
  logger?: FastifyServerOptions['loggerInstance'] | boolean
}

const BODY_LIMIT = 512_000

export async function buildApp({ config, databaseUrl, migrations, logger = false }: AppOptions) {
  const app = Fastify({
    ...(typeof logger === 'object' ? { loggerInstance: logger } : { logger }),
    bodyLimit: BODY_LIMIT,
    // Off: REQUEST_TIMEOUT_MS is applied per route (request-timeouts plugin), since media uploads may take hours.
    requestTimeout: 0,
    genReqId: requestIdOf,
    logController: new RequestLog(),
    // The draining plugin answers requests that arrive while closing, with Retry-After and the error body.
    return503OnClosing: false,
    // Ids may be up to 128 characters; the router's default limit (100) would answer 414 first.
    routerOptions: { querystringParser: parseQueryString, ignoreTrailingSlash: true, maxParamLength: 256 },
    // Errors the router raises before any route runs (bad URL encoding, over-long ids) get the same error body.
    frameworkErrors: (error, request, reply) => {
      void sendError(reply, errorBody(request, error.statusCode && error.statusCode < 500 ? error.statusCode : 400, error.message))
    },
    // So do errors of Node's HTTP parser, raised before there is a request at all.
    clientErrorHandler(this: FastifyInstance, error, socket) {
      answerClientError(error, socket, SECURITY_HEADERS, this.log)
    },
    // Node would answer a request without Host with a bare 400 of its own; the onRequest hook below answers it instead.
    http: { requireHostHeader: false, headersTimeout: config.REQUEST_TIMEOUT_MS },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(validatorCompiler())
  await app.register(securityHeaders)

  // Genesys answers carry the request's correlation id; so do ours (it is also the contextId of error bodies).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('inin-correlation-id', request.id)
    if (request.headers.host === undefined && request.raw.httpVersion === '1.1') {
      return done(new InvalidRequestError('An HTTP/1.1 request needs a Host header (RFC 9112 §3.2)', 'host', 'headers'))
    }
    done()
  })

  await app.register(errorHandler)
  await app.register(draining)
  await app.register(requestTimeouts, { timeoutMs: config.REQUEST_TIMEOUT_MS, headers: SECURITY_HEADERS })
  await app.register(contentParsers)
  await app.register(storableText)
  if (config.CORS_ORIGINS) {
    await app.register(cors, {
      origin: config.CORS_ORIGINS.split(',').map((origin) => origin.trim()),
      // PATCH and the Tus-/Upload- headers: browser tus clients (Uppy, tus-js-client). Range: scripts reading media.
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: [
        'Authorization', 'Content-Type', 'Content-Digest', 'inin-correlation-id', 'Idempotency-Key', 'If-Match', 'If-None-Match', 'Range',
        'If-Range', 'Tus-Resumable', 'Upload-Length', 'Upload-Offset', 'Upload-Metadata', 'Upload-Defer-Length',
      ],
      exposedHeaders: [
        'inin-correlation-id', 'Location', 'Retry-After', 'ETag', 'Idempotent-Replayed', 'Content-Range', 'Accept-Ranges',
        'Content-Disposition', 'Upload-Offset', 'Upload-Length', 'Upload-Expires', 'Tus-Resumable', 'Tus-Version', 'Tus-Extension',
        'Tus-Max-Size', 'X-Recording-File-State',
      ],
    })
  }
  await app.register(rateLimit, {
    max: config.RATE_LIMIT_PER_MINUTE,
    timeWindow: '1 minute',
    // After authentication, so the limit is per client; public routes (health, docs) are not limited.
    hook: 'preHandler',
    keyGenerator: (request) => request.client?.clientId ?? request.ip,
    // `!client`: plugins registered before the auth plugin (Swagger UI) see no `client` decoration at all.
    allowList: (request) => !request.client && !request.url.startsWith('/oauth/'),
    errorResponseBuilder: (_request, context) =>
      Object.assign(new Error(`Rate limit exceeded: at most ${context.max} requests per ${context.after}; retry in ${Math.ceil(context.ttl / 1000)} s`), { statusCode: 429 }),
  })
  await app.register(prismaPlugin, {
    databaseUrl,
    poolSize: config.DATABASE_POOL_SIZE,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
  })
  await app.register(swagger)
  // Configured, or generated once and kept in the database: every instance signs tokens and cursors alike.
  const signingKey = await loadSigningKey(app.prisma, config.TOKEN_SIGNING_KEY)
  await app.register(services, {
    migrations,
    cursorKey: cursorKeyFrom(signingKey),
    mediaUrlKey: mediaUrlKeyFrom(signingKey),
    // With PORT=0, the port the server got.
    publicBaseUrl: () => publicBaseUrl({ ...config, PORT: config.PORT || ((app.server.address() as AddressInfo | null)?.port ?? 0) }),
    storage: await createMediaStorage(config),
    mediaMaxBytes: config.MEDIA_MAX_BYTES,
    dataDir: config.DATA_DIR,
    uploadExpiryHours: config.UPLOAD_EXPIRY_HOURS,
    transcode: {
      ffmpeg: ffmpegPath(config.FFMPEG_PATH),
      timeoutMs: config.TRANSCODE_TIMEOUT_MS,
      concurrency: config.TRANSCODE_CONCURRENCY ?? Math.max(1, availableParallelism() - 1),
    },
    webhookAllowPrivateTargets: config.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    recordingJobs: {
      batchSize: config.RECORDING_JOB_BATCH_SIZE,
      exportTargets: parseExportTargets(config.EXPORT_TARGETS),
      s3: { endpoint: config.S3_ENDPOINT, region: config.S3_REGION, forcePathStyle: config.S3_FORCE_PATH_STYLE },
    },
  })
  await app.register(jobs, { databaseUrl, connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS, concurrency: config.JOB_CONCURRENCY })
  defineTasks(app, config)
  await app.register(auth, { signingKey, issuer: config.TOKEN_ISSUER, ttlSeconds: config.TOKEN_TTL_SECONDS })
  // Both before the routes: they add hooks to the routes that use them (ETags, `config: { idempotent: true }`).
  await app.register(conditionalRequests)
  await app.register(idempotency, { ttlHours: config.IDEMPOTENCY_KEY_TTL_HOURS, abandonAfterMs: config.REQUEST_TIMEOUT_MS })

  await app.register(healthRoutes)
  await app.register(oauthRoutes, { tokensPerMinute: config.TOKEN_RATE_LIMIT_PER_MINUTE })
  // Public: the signature in the URL is the credential (no bearer token; an <audio> tag cannot send one).
  await app.register(mediaPlaybackRoutes)
  await app.register(async (api) => {
    api.addHook('onRequest', authenticate)
    api.addHook('preHandler', authorize)
    // Recordings are personal data: no cache keeps a copy.
    api.addHook('onSend', (_request, reply, payload, done) => {
      reply.header('cache-control', 'no-store')
      done(null, payload)
    })
    const conversation = '/api/v2/conversations/:conversationId'
    await api.register(recordingRoutes, { prefix: `${conversation}/recordings` })
    await api.register(mediaRoutes, { prefix: `${conversation}/recordings/:recordingId/media`, maxBytes: config.MEDIA_MAX_BYTES })
    await api.register(annotationRoutes, { prefix: `${conversation}/recordings/:recordingId/annotations` })
    await api.register(recordingMetadataRoutes, { prefix: `${conversation}/recordingmetadata` })
    await api.register(searchRoutes)
    await api.register(uploadRoutes, { prefix: UPLOADS_PATH })
    await api.register(settingsRoutes)
    await api.register(deletionProtectionRoutes)
    await api.register(retentionQueryRoutes)
    await api.register(batchDownloadRoutes)
    await api.register(webhookRoutes)
    await api.register(recordingJobRoutes)
    await api.register(retentionPolicyRoutes)
  })
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
