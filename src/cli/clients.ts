import closeWithGrace from 'close-with-grace'
import { PrismaPg } from '@prisma/adapter-pg'
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { pino, type Logger } from 'pino'
import { PERMISSIONS } from '../auth/permissions.js'
import { ConfigError, loadConfig, type Config } from '../config.js'
import { embeddedDatabaseUrl, embeddedPasswordFile, startEmbeddedPostgres } from '../db/embedded-postgres.js'
import { applyMigrations } from '../db/migrations.js'
import { DomainError } from '../errors.js'
import { PrismaClient } from '../generated/prisma/client.js'
import { createClientService, parsePermissions } from '../services/client-service.js'

const USAGE = `Manages the API clients (OAuth client credentials) of recording-store.

Usage: npm run -s clients -- <command>     (or: node dist/cli/clients.js <command>)

Commands:
  create --org <name> --name <name> --permissions <list | all>
                     Creates a client, and its organization when new. Prints one JSON line
                     {"clientId","clientSecret","organization"}; the secret is shown only this once.
  list               Prints every client as a JSON array (without secrets).
  revoke <clientId>  The client gets no new tokens; tokens already issued stay valid until they expire.
  help               Shows this text.

Permissions: all, or a comma-separated list of
${Object.entries(PERMISSIONS).map(([name, meaning]) => `  ${name.padEnd(42)}${meaning}`).join('\n')}

Uses the service's settings: DATABASE_URL when set, otherwise the embedded PostgreSQL under DATA_DIR (that of the
running service, or started for the command when the service is stopped).`

class UsageError extends Error {}

type Command =
  | { name: 'help' }
  | { name: 'create'; organization: string; clientName: string; permissions: string }
  | { name: 'list' }
  | { name: 'revoke'; clientId: string }

/** The options of a command; what parseArgs refuses is a usage error. */
function parseOptions(args: string[]) {
  try {
    return parseArgs({ args, allowPositionals: true, options: { org: { type: 'string' }, name: { type: 'string' }, permissions: { type: 'string' } } })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
}

function parseCommand(argv: string[]): Command {
  const [name, ...rest] = argv
  if (name === undefined) throw new UsageError('no command given')
  if (['help', '--help', '-h'].includes(name)) return { name: 'help' }
  if (!['create', 'list', 'revoke'].includes(name)) throw new UsageError(`unknown command: ${name}`)
  const { values, positionals } = parseOptions(rest)
  const hasOptions = Object.keys(values).length > 0
  if (name === 'create') {
    if (!values.org || !values.name || !values.permissions || positionals.length > 0) {
      throw new UsageError('create needs --org, --name and --permissions, and nothing else')
    }
    return { name: 'create', organization: values.org, clientName: values.name, permissions: values.permissions }
  }
  if (name === 'list') {
    if (hasOptions || positionals.length > 0) throw new UsageError('list takes no arguments')
    return { name: 'list' }
  }
  const [clientId] = positionals
  if (hasOptions || positionals.length !== 1 || !clientId) throw new UsageError('revoke takes one client id')
  return { name: 'revoke', clientId }
}

interface Database {
  url: string
  close(): Promise<void>
}

/**
 * DATABASE_URL, or else the embedded cluster under DATA_DIR: the running service's when it answers (PostgreSQL allows
 * one postmaster per cluster, so starting a second one would fail), otherwise started here for this command only.
 */
async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, close: async () => {} }
  const running = await runningEmbeddedUrl(config)
  if (running) return { url: running, close: async () => {} }

  const embedded = await startEmbeddedPostgres({ dataDir: config.DATA_DIR, port: config.EMBEDDED_POSTGRES_PORT, logger })
  // Stopped once, whoever asks first: the command when it ends, or a signal while it runs (see run).
  let stopped: Promise<void> | undefined
  return {
    url: embedded.url,
    close: () => (stopped ??= embedded.stop()),
  }
}

/** The URL of the embedded cluster when it is already running (as startEmbeddedPostgres builds it), else undefined. */
async function runningEmbeddedUrl(config: Config): Promise<string | undefined> {
  const password = await readFile(embeddedPasswordFile(config.DATA_DIR), 'utf8').catch(() => undefined)
  if (password === undefined) return undefined // no cluster yet, so nothing can be running
  const url = embeddedDatabaseUrl(password.trim(), config.EMBEDDED_POSTGRES_PORT)
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 })
  try {
    await probe.connect()
  } catch {
    return undefined
  }
  await probe.end()
  return url
}

async function run(command: Exclude<Command, { name: 'help' }>, config: Config, logger: Logger): Promise<unknown> {
  // Checked before any database work, so a typo costs no cluster start.
  const permissions = command.name === 'create' ? parsePermissions(command.permissions) : []
  const database = await openDatabase(config, logger)
  // A Ctrl-C (or SIGTERM) while the command runs still stops the embedded PostgreSQL it may have started, as the
  // server does on its way out; a second signal exits at once.
  const grace = closeWithGrace({ delay: 10_000 }, async ({ signal }) => {
    if (signal) logger.warn({ signal }, 'interrupted: stopping the database before exiting')
    await database.close()
  })
  try {
    // Same rule as the service's start, so the command also works on a brand-new install.
    if (config.MIGRATE_ON_START) await applyMigrations(database.url, logger)
    const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: database.url, max: 2, connectionTimeoutMillis: 5_000 }) })
    try {
      const clients = createClientService({ prisma })
      switch (command.name) {
        case 'create':
          return await clients.create({ organization: command.organization, name: command.clientName, permissions })
        case 'list':
          return await clients.list()
        case 'revoke':
          await clients.revoke(command.clientId)
          return { revoked: command.clientId }
      }
    } finally {
      await prisma.$disconnect()
    }
  } finally {
    grace.uninstall()
    await database.close()
  }
}

/** The message and its causes: startEmbeddedPostgres, for one, wraps what went wrong underneath. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  return error.cause === undefined ? error.message.trim() : `${error.message.trim()}\n  caused by: ${describe(error.cause)}`
}

async function main(argv: string[]): Promise<number> {
  let command: Command
  try {
    command = parseCommand(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(`${error.message}\n\n${USAGE}\n`)
    return 2
  }
  if (command.name === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  // stdout carries only the JSON answer; logs, even the service's warnings, go to stderr.
  const logger = pino({ level: 'warn' }, pino.destination({ dest: 2, sync: true }))
  try {
    const result = await run(command, loadConfig(), logger)
    process.stdout.write(`${JSON.stringify(result, null, command.name === 'list' ? 2 : undefined)}\n`)
    return 0
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DomainError) process.stderr.write(`${error.message}\n`)
    else process.stderr.write(`clients ${command.name} failed: ${describe(error)}\n`)
    return 1
  }
}

process.exitCode = await main(process.argv.slice(2))
