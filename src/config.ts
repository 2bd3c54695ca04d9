import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import path from 'node:path'
import { parseExportTargets } from './services/export-targets.js'

/** Every setting the service reads. This is the only module that reads `process.env`. */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'HTTP port.' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Interface to listen on (0.0.0.0 for all).' }),
  PUBLIC_BASE_URL: Type.Optional(
    Type.String({
      pattern: '^https?://[^/?#\\s]+(/[^?#\\s]*)?$',
      description: 'Origin (and path prefix) of the URLs the service hands out, such as signed media URLs. Unset: http://<HOST>:<PORT>.',
    }),
  ),
  DATABASE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description: 'PostgreSQL connection URL. Unset: an embedded PostgreSQL runs with its data under DATA_DIR.',
    }),
  ),
  DATA_DIR: Type.String({
    minLength: 1,
    default: './.data',
    description: 'Where the embedded PostgreSQL keeps its data, and uploaded media (under media/) with MEDIA_STORAGE=local.',
  }),
  MEDIA_STORAGE: Type.String({
    default: 'local',
    description: 'Where uploaded media is kept: local (files under DATA_DIR/media) or s3 (objects in S3_BUCKET; uploads pass through DATA_DIR/tmp).',
  }),
  S3_ENDPOINT: Type.Optional(
    Type.String({
      pattern: '^https?://[^/?#\\s]+(/[^?#\\s]*)?$',
      description: 'With MEDIA_STORAGE=s3: URL of an S3-compatible server. Unset: AWS S3 of S3_REGION. Credentials come from the standard AWS variables, files or instance role.',
    }),
  ),
  S3_BUCKET: Type.Optional(
    Type.String({ minLength: 3, maxLength: 63, description: 'With MEDIA_STORAGE=s3 (then required): the bucket media is kept in, under <organization>/<recording>/.' }),
  ),
  S3_REGION: Type.String({ minLength: 1, default: 'us-east-1', description: 'With MEDIA_STORAGE=s3: region of the bucket.' }),
  S3_FORCE_PATH_STYLE: Type.Boolean({
    default: false,
    description: 'With MEDIA_STORAGE=s3: address the bucket in the path (http://host/bucket/key) instead of the host name, as most S3-compatible servers want.',
  }),
  S3_ARCHIVE_STORAGE_CLASS: Type.String({
    pattern: '^[A-Z][A-Z_]*$',
    default: 'GLACIER',
    description: 'With MEDIA_STORAGE=s3: the storage class archived media is copied into (GLACIER, DEEP_ARCHIVE, GLACIER_IR, STANDARD_IA, ...).',
  }),
  S3_ARCHIVE_BUCKET: Type.Optional(
    Type.String({
      minLength: 3,
      maxLength: 63,
      description: 'With MEDIA_STORAGE=s3: a bucket of its own for archived media. Unset: archived media stays in S3_BUCKET, in S3_ARCHIVE_STORAGE_CLASS.',
    }),
  ),
  MEDIA_MAX_BYTES: Type.Integer({
    minimum: 1,
    default: 4 * 1024 ** 3,
    description: 'Largest media upload in bytes (default 4 GiB); larger ones are refused with 413.',
  }),
  UPLOAD_EXPIRY_HOURS: Type.Integer({
    minimum: 1,
    maximum: 8760,
    default: 24,
    description: 'How long an unfinished resumable upload (tus, under DATA_DIR/uploads) may take from its creation, in hours; then it expires and its bytes are removed.',
  }),
  EMBEDDED_POSTGRES_PORT: Type.Integer({
    minimum: 1,
    maximum: 65535,
    default: 54329,
    description: 'Port of the embedded PostgreSQL (loopback only).',
  }),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 500, default: 10, description: 'Connections per process.' }),
  DATABASE_CONNECT_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    default: 5_000,
    description: 'Longest wait for a database connection (a new one, or a free one from a busy pool); then 503.',
  }),
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({
    minimum: 0,
    default: 15_000,
    description: 'Longest time one SQL statement of a request may run (PostgreSQL statement_timeout; 0: no limit); then 503.',
  }),
  MIGRATE_ON_START: Type.Boolean({ default: true, description: 'Apply pending migrations before listening.' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info', description: 'pino log level.' },
  ),
  LOG_PRETTY: Type.Optional(
    Type.Boolean({ description: 'Human-readable logs. Default: on when stdout is a terminal, JSON otherwise.' }),
  ),
  TOKEN_SIGNING_KEY: Type.Optional(
    Type.String({
      minLength: 32,
      description: 'Secret (32+ characters) that signs access tokens. Unset: generated on first start and kept in the database.',
    }),
  ),
  TOKEN_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 604_800, default: 86_400, description: 'Access-token lifetime.' }),
  TOKEN_ISSUER: Type.String({ minLength: 1, default: 'recording-store', description: 'The `iss` of issued tokens.' }),
  BOOTSTRAP_CLIENT_ID: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'With BOOTSTRAP_CLIENT_SECRET: a client made sure to exist at start, with every permission.' }),
  ),
  BOOTSTRAP_CLIENT_SECRET: Type.Optional(Type.String({ minLength: 16, description: 'Secret of the bootstrap client.' })),
  RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 1, default: 300, description: 'API requests per client and minute.' }),
  TOKEN_RATE_LIMIT_PER_MINUTE: Type.Integer({
    minimum: 1,
    default: 30,
    description: 'Token requests per client id and address and minute.',
  }),
  REQUEST_TIMEOUT_MS: Type.Integer({
    minimum: 1000,
    default: 30_000,
    description: "Longest time a request's headers, then its body, may take to arrive (408); for media uploads, the longest pause between bytes.",
  }),
  IDEMPOTENCY_KEY_TTL_HOURS: Type.Integer({
    minimum: 1,
    maximum: 8760,
    default: 24,
    description: 'How long an Idempotency-Key and the answer it got are kept, in hours.',
  }),
  CORS_ORIGINS: Type.Optional(
    Type.String({ description: 'Comma-separated origins allowed to call the API from a browser. Unset: CORS off.' }),
  ),
  SEARCH_LANGUAGE: Type.String({
    pattern: '^[a-z_]+$',
    default: 'simple',
    description: 'PostgreSQL text search configuration for full-text search (simple matches words literally, in any language; english, german, ... stem).',
  }),
  HEAP_GROWING_PERCENT: Type.Integer({
    minimum: 0,
    maximum: 1000,
    default: 100,
    description: 'How far the JavaScript heap may grow past its live data before a full collection, in percent; 0 leaves it to V8 (~80 MB more under load). Below 100, collections slow streamed uploads down (50: a third slower).',
  }),
  JOB_CONCURRENCY: Type.Integer({
    minimum: 0,
    maximum: 100,
    default: 4,
    description: 'Background jobs (media removal, reconciliation) this instance runs at once; 0: it runs none and only serves. Instances on one database share the jobs.',
  }),
  FFMPEG_PATH: Type.Optional(Type.String({
    description: 'The ffmpeg that makes renditions and waveforms. Unset: the static build installed by npm (@ffmpeg-installer/ffmpeg).',
  })),
  TRANSCODE_CONCURRENCY: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: 64,
    description: 'ffmpeg processes (transcodes, waveforms) this instance runs at once; more wait their turn. Unset: one less than the CPUs, at least one.',
  })),
  TRANSCODE_TIMEOUT_MS: Type.Integer({
    minimum: 1000,
    default: 1_800_000,
    description: 'Longest one ffmpeg run may take; then it is killed and the rendition fails (TRANSCODING_FAILED).',
  }),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: Type.Boolean({
    default: false,
    description: 'true: webhooks may target private, loopback and link-local addresses (local use, tests). Otherwise refused, when subscribed and again at each delivery.',
  }),
  WEBHOOK_RETRY_SCHEDULE: Type.String({
    pattern: '^\\d+(\\.\\d+)?(ms|s|m|h)(,\\d+(\\.\\d+)?(ms|s|m|h))*$',
    default: '5s,5m,30m,2h,5h,10h,10h',
    description: 'Pauses before each retry of a failed webhook delivery (Standard Webhooks schedule), comma-separated with units ms, s, m, h; each is jittered by ±10%. When spent, the delivery fails.',
  }),
  MEDIA_RECONCILE_GRACE_MINUTES: Type.Integer({
    minimum: 1,
    default: 60,
    description: 'Stored bytes that no recording names, and temporary files of interrupted writes, are removed by the hourly reconciliation once this old.',
  }),
  RETENTION_SWEEP_SECONDS: Type.Integer({
    minimum: 1,
    default: 60,
    description: 'How often the retention sweep runs (one instance at a time): recordings past their deleteDate are deleted, media past its archiveDate moves to the archive tier.',
  }),
  RETENTION_BATCH_SIZE: Type.Integer({
    minimum: 1,
    maximum: 10_000,
    default: 500,
    description: 'Recordings the retention sweep deletes or archives per transaction; it pauses between batches so the API keeps its latency.',
  }),
  RECORDING_JOB_BATCH_SIZE: Type.Integer({
    minimum: 1,
    maximum: 10_000,
    default: 100,
    description: 'Recordings an executing recording job (bulk archive, delete, export) sets the dates of per transaction; each batch is a job of its own.',
  }),
  EXPORT_TARGETS: Type.Optional(
    Type.String({
      description:
        'Where EXPORT recording jobs write, by integrationId: a JSON object {"id": "location"} or a list id=location separated by commas. ' +
        'A location is an absolute directory path (or file:// URL) or s3://bucket/prefix (with the S3_ENDPOINT, S3_REGION and S3_FORCE_PATH_STYLE client settings). Unset: no export targets.',
    }),
  ),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    default: 10_000,
    description: 'How long shutdown waits for in-flight requests before giving up.',
  }),
})
export type Config = Static<typeof ConfigSchema>

/** The media storage backends this build has. */
export const MEDIA_STORAGES = ['local', 's3'] as const
export type MediaStorageKind = (typeof MEDIA_STORAGES)[number]

/** Origin of generated URLs: PUBLIC_BASE_URL, else this service as it listens (an IPv6 host in brackets). */
export function publicBaseUrl(config: Pick<Config, 'PUBLIC_BASE_URL' | 'HOST' | 'PORT'>): string {
  if (config.PUBLIC_BASE_URL) return config.PUBLIC_BASE_URL.replace(/\/+$/, '')
  const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST
  return `http://${host}:${config.PORT}`
}

export class ConfigError extends Error {}

/** Reads the settings from `env`, applies defaults and types, and throws one readable error listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const known = Object.keys(ConfigSchema.properties)
  // Empty variables count as unset, as in most shells' `VAR= command` usage.
  const input = Object.fromEntries(
    Object.entries(env).filter(([key, value]) => known.includes(key) && value !== undefined && value !== ''),
  )
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, input))
  const problems = [...Value.Errors(ConfigSchema, converted)].map((error) => {
    const name = error.path.slice(1)
    return name ? `${name}=${JSON.stringify(input[name] ?? '')}: ${error.message}` : error.message
  })
  const config = converted as Config
  if ((config.BOOTSTRAP_CLIENT_ID === undefined) !== (config.BOOTSTRAP_CLIENT_SECRET === undefined)) {
    problems.push('BOOTSTRAP_CLIENT_ID and BOOTSTRAP_CLIENT_SECRET go together: set both or neither')
  }
  // A union of literals would report "Expected union value"; this names the choices.
  if (typeof config.MEDIA_STORAGE === 'string' && !MEDIA_STORAGES.includes(config.MEDIA_STORAGE as MediaStorageKind)) {
    problems.push(`MEDIA_STORAGE=${JSON.stringify(config.MEDIA_STORAGE)}: must be one of ${MEDIA_STORAGES.join(', ')}`)
  }
  if (config.MEDIA_STORAGE === 's3' && config.S3_BUCKET === undefined) {
    problems.push('MEDIA_STORAGE=s3 needs S3_BUCKET: the bucket media is kept in')
  }
  try {
    parseExportTargets(config.EXPORT_TARGETS)
  } catch (error) {
    problems.push(`EXPORT_TARGETS: ${error instanceof Error ? error.message : String(error)}`)
  }
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`)
  return { ...config, DATA_DIR: path.resolve(config.DATA_DIR) }
}
