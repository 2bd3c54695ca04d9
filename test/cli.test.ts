import type { ClientSummary } from '../src/services/client-service.js'
import { randomUUID } from 'node:crypto'
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises'
import { connect } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { buildApp, type App } from '../src/app.js'
import { ALL_PERMISSIONS } from '../src/auth/permissions.js'
import { loadConfig } from '../src/config.js'
import { PROJECT_ROOT, shippedMigrations } from '../src/db/migrations.js'
import { databaseUrl as urlFor, withAdminClient } from './database.js'
import { CLI, freePort, killLeftovers, run, startService } from './processes.js'


afterAll(killLeftovers)

/** Runs the command with only these settings: the test run's own DATABASE_URL must not leak into it. */
async function cli(args: string[], env: Record<string, string>) {
  const { code, stdout, stderr } = await run(process.execPath, [CLI, ...args], env)
  return { code, stdout, stderr }
}

interface Created {
  clientId: string
  clientSecret: string
  organization: string
}

/** `create`, which must succeed and print exactly one JSON line with nothing else on either stream. */
async function createClient(env: Record<string, string>, org: string, name: string, permissions: string): Promise<Created> {
  const result = await cli(['create', '--org', org, '--name', name, '--permissions', permissions], env)
  expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' })
  expect(result.stdout).toMatch(/^\{[^\n]*\}\n$/)
  const created = JSON.parse(result.stdout) as Created
  expect(Object.keys(created).sort()).toEqual(['clientId', 'clientSecret', 'organization'])
  expect(created).toMatchObject({ clientId: expect.stringMatching(/^[0-9a-f-]{36}$/), clientSecret: expect.stringMatching(/^[\w-]{32,}$/), organization: org })
  return created
}

type Listed = ClientSummary

async function listClients(env: Record<string, string>): Promise<{ clients: Listed[]; stdout: string }> {
  const result = await cli(['list'], env)
  expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' })
  return { clients: JSON.parse(result.stdout) as Listed[], stdout: result.stdout }
}

const basic = (clientId: string, clientSecret: string) => `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`
const ingestBody = { name: 'cli test', media: 'chat', transcript: [{ body: 'hello', id: 'm1' }] }

describe('npm run clients (node dist/cli/clients.js) with DATABASE_URL', () => {
  let env: Record<string, string>
  let app: App
  let sql: pg.Client

  const tokenRequest = (clientId: string, clientSecret: string) =>
    app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { authorization: basic(clientId, clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=client_credentials',
    })
  const tokenOf = async (created: Created) => {
    const res = await tokenRequest(created.clientId, created.clientSecret)
    expect(res.statusCode, res.body).toBe(200)
    return res.json<{ access_token: string }>().access_token
  }

  beforeAll(async () => {
    // An empty database, as on a brand-new install: the command has to migrate it before it can list anything.
    const { serverUrl, prefix } = inject('testDatabase')
    const name = `${prefix}cli_${randomUUID().slice(0, 8)}`
    await withAdminClient(serverUrl, (client) => client.query(`CREATE DATABASE "${name}"`))
    env = { DATABASE_URL: urlFor(serverUrl, name) }
    expect((await listClients(env)).clients).toEqual([])

    const config = loadConfig({ RATE_LIMIT_PER_MINUTE: '100000', TOKEN_RATE_LIMIT_PER_MINUTE: '100000' })
    app = await buildApp({ config, databaseUrl: env.DATABASE_URL as string, migrations: await shippedMigrations() })
    await app.ready()
    sql = new pg.Client({ connectionString: env.DATABASE_URL })
    await sql.connect()
  })
  afterAll(async () => {
    await app?.close()
    await sql?.end()
  })

  it('create prints the credentials once, stores only a scrypt hash of the secret, and the client gets a working token', async () => {
    const created = await createClient(env, 'acme', 'importer', 'all')

    const { rows } = await sql.query<{ secret_hash: string; permissions: string[]; org: string }>(
      'SELECT c.secret_hash, c.permissions, o.name AS org FROM api_clients c JOIN organizations o ON o.id = c.organization_id WHERE c.client_id = $1',
      [created.clientId],
    )
    expect(rows).toHaveLength(1)
    expect(rows[0]?.secret_hash).toMatch(/^scrypt\$/)
    expect(rows[0]?.secret_hash).not.toContain(created.clientSecret)
    expect(rows[0]?.permissions).toEqual(ALL_PERMISSIONS)
    expect(rows[0]?.org).toBe('acme')

    const token = await tokenOf(created)
    const read = await app.inject({ method: 'GET', url: '/api/v2/conversations/c-cli/recordings', headers: { authorization: `Bearer ${token}` } })
    // Authenticated and allowed: the conversation simply has no recordings.
    expect(read.statusCode, read.body).toBe(404)

    const wrong = await tokenRequest(created.clientId, `${created.clientSecret}x`)
    expect(wrong.statusCode).toBe(401)
  })

  it('gives a client only the permissions named, in an organization it reuses', async () => {
    const viewer = await createClient(env, 'acme', 'viewer', 'recording:recording:view')
    const token = await tokenOf(viewer)
    const headers = { authorization: `Bearer ${token}` }

    const ingest = await app.inject({ method: 'POST', url: '/api/v2/conversations/c-cli/recordings', headers, payload: ingestBody })
    expect(ingest.statusCode, ingest.body).toBe(403)
    expect(ingest.json()).toMatchObject({ code: 'missing.permissions' })
    expect((await app.inject({ method: 'GET', url: '/api/v2/conversations/c-cli/recordings', headers })).statusCode).toBe(404)

    const { rows } = await sql.query('SELECT id FROM organizations WHERE name = $1', ['acme'])
    expect(rows).toHaveLength(1)
  })

  it('list shows the clients without secrets or hashes', async () => {
    const created = await createClient(env, 'globex', 'lister', 'recording:annotation:view,recording:recording:add')
    const { clients, stdout } = await listClients(env)

    expect(clients.find((c) => c.clientId === created.clientId)).toEqual({
      clientId: created.clientId,
      name: 'lister',
      organization: 'globex',
      permissions: ['recording:annotation:view', 'recording:recording:add'],
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    })
    for (const client of clients) {
      expect(Object.keys(client).every((key) => ['clientId', 'name', 'organization', 'permissions', 'createdAt', 'revokedAt'].includes(key))).toBe(true)
    }
    expect(stdout).not.toContain(created.clientSecret)
    expect(stdout).not.toMatch(/scrypt|secret|hash/i)
  })

  it('revoke stops the client from getting tokens, and refuses a second time', async () => {
    const created = await createClient(env, 'acme', 'to-revoke', 'all')
    await tokenOf(created)

    const revoked = await cli(['revoke', created.clientId], env)
    expect(revoked).toEqual({ code: 0, stdout: `{"revoked":"${created.clientId}"}\n`, stderr: '' })

    const refused = await tokenRequest(created.clientId, created.clientSecret)
    expect(refused.statusCode).toBe(401)
    expect(refused.json()).toMatchObject({ error: 'invalid_client' })
    const listed = (await listClients(env)).clients.find((c) => c.clientId === created.clientId)
    expect(listed?.revokedAt).toEqual(expect.stringMatching(/^\d{4}-/))

    const again = await cli(['revoke', created.clientId], env)
    expect(again.code).toBe(1)
    expect(again.stdout).toBe('')
    expect(again.stderr).toMatch(new RegExp(`${created.clientId}.*already revoked`))
  })

  it('refuses an unknown permission, naming it and the known ones, and creates nothing', async () => {
    const before = await sql.query('SELECT 1 FROM api_clients')
    const result = await cli(['create', '--org', 'acme', '--name', 'typo', '--permissions', 'recording:recording:view,recording:recordings:vieww'], env)
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain('recording:recordings:vieww')
    expect(result.stderr).toContain('Known: all, recording:recording:view')
    expect((await sql.query('SELECT 1 FROM api_clients')).rowCount).toBe(before.rowCount)
  })

  it('refuses to revoke an unknown client', async () => {
    const result = await cli(['revoke', 'no-such-client'], env)
    expect(result).toMatchObject({ code: 1, stdout: '' })
    expect(result.stderr).toContain('Client no-such-client was not found')
  })

  it('prints the usage and exits 2 on a usage error; `help` prints it to stdout and exits 0', async () => {
    for (const args of [[], ['frobnicate'], ['create', '--org', 'acme', '--name', 'x'], ['revoke'], ['list', '--org', 'acme']]) {
      const result = await cli(args, env)
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stdout).toBe('')
      expect(result.stderr).toMatch(/Usage: npm run -s clients -- <command>/)
    }
    const help = await cli(['help'], env)
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/Usage: npm run -s clients[\s\S]*create --org <name> --name <name> --permissions[\s\S]*recording:annotation:delete/)
  })

  it('refuses a bad setting, naming it', async () => {
    const result = await cli(['list'], { DATABASE_URL: 'mysql://localhost/x' })
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/Invalid configuration[\s\S]*DATABASE_URL="mysql:\/\/localhost\/x"/)
  })
})

// ---- The embedded PostgreSQL under DATA_DIR, with and without the service running ----

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

const exists = (file: string) => stat(file).then(() => true, () => false)

/** Whether the `postgres` user (which runs the embedded server when we are root) can reach the project's files. */
async function projectReachableByPostgresUser(): Promise<boolean> {
  if (process.getuid?.() !== 0) return true
  for (let dir = PROJECT_ROOT; ; dir = path.dirname(dir)) {
    if (((await stat(dir)).mode & 0o001) === 0) return false
    if (path.dirname(dir) === dir) return true
  }
}

/** The service, started as `npm start` starts it; `stop` sends SIGTERM and answers its exit code. */
async function startServer(env: Record<string, string>): Promise<{ baseUrl: string; stop(): Promise<number | null> }> {
  const service = await startService(env)
  return {
    baseUrl: service.baseUrl,
    async stop() {
      service.process.kill('SIGTERM')
      return (await service.exited).code
    },
  }
}

async function tokenStatus(baseUrl: string, created: Created): Promise<{ status: number; token?: string }> {
  const res = await fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic(created.clientId, created.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  })
  const body = (await res.json()) as { access_token?: string }
  return { status: res.status, token: body.access_token }
}

describe('npm run clients on the embedded PostgreSQL (no DATABASE_URL)', () => {
  it('creates the cluster on a brand-new install, shares it with a running service, and starts and stops it when the service is stopped', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'recording-store-cli-'))
    await chmod(dataDir, 0o755) // the embedded server runs as the `postgres` user when we are root
    const port = await freePort()
    const env = { DATA_DIR: dataDir, EMBEDDED_POSTGRES_PORT: String(port) }
    const postmasterPid = path.join(dataDir, 'postgres', 'postmaster.pid')
    const bootstrap = { BOOTSTRAP_CLIENT_ID: 'cli-test-bootstrap', BOOTSTRAP_CLIENT_SECRET: 'cli-test-bootstrap-secret-0123' }
    try {
      if (!(await projectReachableByPostgresUser())) {
        // Checked out where other users cannot enter and run as root: the same clear refusal as the service's.
        const refused = await cli(['list'], env)
        expect(refused.code).toBe(1)
        expect(refused.stderr).toMatch(/cannot enter .* Run as a non-root user, allow it with 'chmod o\+x/)
        return
      }

      // Service never started: the command creates the cluster, migrates it, and stops it again.
      const early = await createClient(env, 'acme', 'created-before-first-start', 'all')
      expect(await exists(path.join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true)
      expect(await exists(postmasterPid)).toBe(false)
      expect(await accepts(port)).toBe(false)

      const server = await startServer({ ...env, ...bootstrap })
      const earlyToken = await tokenStatus(server.baseUrl, early)
      expect(earlyToken.status).toBe(200)

      // Service running: the command connects to its cluster (starting a second postmaster would fail).
      const live = await createClient(env, 'acme', 'created-while-running', 'recording:recording:view')
      const liveToken = await tokenStatus(server.baseUrl, live)
      expect(liveToken.status).toBe(200)
      const read = await fetch(`${server.baseUrl}/api/v2/conversations/c-cli/recordings`, { headers: { authorization: `Bearer ${liveToken.token}` } })
      expect(read.status).toBe(404)
      expect(await accepts(port)).toBe(true)

      expect(await server.stop()).toBe(0)
      expect(await exists(postmasterPid)).toBe(false)

      // Service stopped again: the command starts the existing cluster for itself and leaves nothing running.
      const { clients } = await listClients(env)
      expect(clients.map((c) => c.clientId)).toEqual([early.clientId, bootstrap.BOOTSTRAP_CLIENT_ID, live.clientId])
      expect(clients.find((c) => c.clientId === live.clientId)).toMatchObject({ name: 'created-while-running', organization: 'acme', permissions: ['recording:recording:view'] })
      expect(await exists(postmasterPid)).toBe(false)
      expect(await accepts(port)).toBe(false)
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 180_000)
})
