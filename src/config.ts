import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import path from 'node:path'

/** Every setting the service reads. This is the only module that reads `process.env`. */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'HTTP port.' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Interface to listen on (0.0.0.0 for all).' }),
  DATABASE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description: 'PostgreSQL connection URL. Unset: an embedded PostgreSQL runs with its data under DATA_DIR.',
    }),
  ),
  DATA_DIR: Type.String({ minLength: 1, default: './.data', description: 'Where the embedded PostgreSQL keeps its data.' }),
  EMBEDDED_POSTGRES_PORT: Type.Integer({
    minimum: 1,
    maximum: 65535,
    default: 54329,
    description: 'Port of the embedded PostgreSQL (loopback only).',
  }),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 500, default: 10, description: 'Connections per process.' }),
  MIGRATE_ON_START: Type.Boolean({ default: true, description: 'Apply pending migrations before listening.' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info', description: 'pino log level.' },
  ),
  LOG_PRETTY: Type.Optional(
    Type.Boolean({ description: 'Human-readable logs. Default: on when stdout is a terminal, JSON otherwise.' }),
  ),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    default: 10_000,
    description: 'How long shutdown waits for in-flight requests before giving up.',
  }),
})
export type Config = Static<typeof ConfigSchema>

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
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`)
  const config = converted as Config
  return { ...config, DATA_DIR: path.resolve(config.DATA_DIR) }
}
