import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { PROJECT_ROOT } from '../src/db/migrations.js'
import { databaseUrl as urlFor, withAdminClient } from './database.js'

/** The built entry point, exactly what `npm start` runs (`npm test` builds first). */
const SERVER = path.join(PROJECT_ROOT, 'dist', 'server.js')

interface RunningServer {
  process: ChildProcess
  baseUrl: string
  logs: Record<string, unknown>[]
  exited: Promise<number | null>
}

const running = new Set<ChildProcess>()
afterAll(() => {
  for (const child of running) child.kill('SIGKILL')
})

function startServer(env: Record<string, string | undefined>): Promise<RunningServer> {
  const child = spawn(process.execPath, [SERVER], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', HOST: '127.0.0.1', LOG_PRETTY: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  const logs: Record<string, unknown>[] = []
  let stderr = ''
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    running.delete(child)
    resolve(code)
  }))
  return new Promise((resolve, reject) => {
    let buffered = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        const entry = JSON.parse(line) as Record<string, unknown>
        logs.push(entry)
        const listening = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(entry.msg))
        if (listening?.[1]) resolve({ process: child, baseUrl: listening[1], logs, exited })
      }
    })
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${stderr}\n${JSON.stringify(logs)}`)))
  })
}

async function stopServer(server: RunningServer): Promise<number | null> {
  server.process.kill('SIGTERM')
  return server.exited
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** An empty database: nothing migrated, so the server has to do it. */
async function emptyDatabase(): Promise<string> {
  const { serverUrl, prefix } = inject('testDatabase')
  const name = `${prefix}empty_${randomUUID().slice(0, 8)}`
  await withAdminClient(serverUrl, (client) => client.query(`CREATE DATABASE "${name}"`))
  return urlFor(serverUrl, name)
}

/** Whether the `postgres` user (which runs the embedded server when we are root) can reach the project's files. */
async function projectReachableByPostgresUser(): Promise<boolean> {
  if (process.getuid?.() !== 0) return true
  for (let dir = PROJECT_ROOT; ; dir = path.dirname(dir)) {
    if (((await stat(dir)).mode & 0o001) === 0) return false
    if (path.dirname(dir) === dir) return true
  }
}

const BOOTSTRAP = { BOOTSTRAP_CLIENT_ID: 'process-test-client', BOOTSTRAP_CLIENT_SECRET: 'process-test-secret-0123456789' }

/** A bearer token from the server's /oauth/token, as any client would get one. */
async function tokenFrom(baseUrl: string, clientId: string, clientSecret: string): Promise<string> {
  const res = await fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  })
  expect(res.status).toBe(200)
  return ((await res.json()) as { access_token: string }).access_token
}

const ingestBody = { name: 'process test', media: 'chat', transcript: [{ body: 'hello', id: 'm1' }] }

describe('the server process (node dist/server.js)', () => {
  it('migrates an empty database on start, serves, and drains an in-flight request on SIGTERM', async () => {
    const server = await startServer({ DATABASE_URL: await emptyDatabase(), ...BOOTSTRAP })
    expect(server.logs.some((l) => l.msg === 'migrations applied')).toBe(true)
    expect((await fetch(`${server.baseUrl}/health/ready`)).status).toBe(200)
    const token = await tokenFrom(server.baseUrl, BOOTSTRAP.BOOTSTRAP_CLIENT_ID, BOOTSTRAP.BOOTSTRAP_CLIENT_SECRET)

    // Half a request is on the wire when SIGTERM arrives; the server must still finish it.
    const { port } = new URL(server.baseUrl)
    const socket = connect(Number(port), '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const payload = JSON.stringify(ingestBody)
    let answer = ''
    socket.on('data', (chunk) => (answer += chunk.toString()))
    const closed = new Promise((resolve) => socket.once('close', resolve))
    socket.write(`POST /api/v2/conversations/c-drain/recordings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n${payload.slice(0, 10)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    server.process.kill('SIGTERM')
    await new Promise((resolve) => setTimeout(resolve, 200))
    socket.write(payload.slice(10))
    await closed
    expect(answer).toMatch(/^HTTP\/1\.1 201/)
    expect(await server.exited).toBe(0)
    expect(server.logs.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM')).toBe(true)
  })

  it('creates a first client on an empty database and logs its credentials once', async () => {
    const databaseUrl = await emptyDatabase()
    const first = await startServer({ DATABASE_URL: databaseUrl })
    const created = first.logs.find((l) => String(l.msg).startsWith('first start: created an API client'))
    expect(created).toMatchObject({ clientId: expect.any(String), clientSecret: expect.any(String), organization: 'default' })
    const token = await tokenFrom(first.baseUrl, String(created?.clientId), String(created?.clientSecret))
    expect((await fetch(`${first.baseUrl}/api/v2/conversations/c-1/recordings`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404)
    expect(await stopServer(first)).toBe(0)
    const second = await startServer({ DATABASE_URL: databaseUrl })
    expect(second.logs.some((l) => String(l.msg).startsWith('first start'))).toBe(false)
    expect(await stopServer(second)).toBe(0)
  })

  it('logs one JSON line per request carrying its request id', async () => {
    const server = await startServer({ DATABASE_URL: await emptyDatabase(), ...BOOTSTRAP })
    const token = await tokenFrom(server.baseUrl, BOOTSTRAP.BOOTSTRAP_CLIENT_ID, BOOTSTRAP.BOOTSTRAP_CLIENT_SECRET)
    const res = await fetch(`${server.baseUrl}/api/v2/conversations/c-log/recordings`, { headers: { 'x-request-id': 'trace-0123456789', authorization: `Bearer ${token}` } })
    expect(res.status).toBe(404)
    expect(res.headers.get('inin-correlation-id')).toBe('trace-0123456789')
    expect(await stopServer(server)).toBe(0)
    const lines = server.logs.filter((l) => l.reqId === 'trace-0123456789')
    expect(lines).toEqual([expect.objectContaining({ msg: 'request completed', statusCode: 404, method: 'GET', clientId: BOOTSTRAP.BOOTSTRAP_CLIENT_ID })])
  })

  it('refuses to start with a bad setting, naming it', async () => {
    await expect(startServer({ PORT: 'eighty', DATABASE_URL: 'postgresql://x@127.0.0.1:1/none' })).rejects.toThrow(/exited with 1[\s\S]*Invalid configuration[\s\S]*PORT="eighty"/)
  })

  it('runs on an embedded PostgreSQL without DATABASE_URL, keeping data across restarts', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'recording-store-embedded-'))
    await chmod(dataDir, 0o755)
    const env = { DATA_DIR: dataDir, EMBEDDED_POSTGRES_PORT: String(await freePort()), ...BOOTSTRAP }
    try {
      if (!(await projectReachableByPostgresUser())) {
        // Checked out where other users cannot enter (e.g. a mode-700 directory) and run as root: a clear refusal.
        await expect(startServer(env)).rejects.toThrow(/cannot enter .* Run as a non-root user, allow it with 'chmod o\+x/)
        return
      }
      const first = await startServer(env)
      const token = await tokenFrom(first.baseUrl, BOOTSTRAP.BOOTSTRAP_CLIENT_ID, BOOTSTRAP.BOOTSTRAP_CLIENT_SECRET)
      const created = await fetch(`${first.baseUrl}/api/v2/conversations/c-embedded/recordings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(ingestBody),
      })
      expect(created.status).toBe(201)
      const location = created.headers.get('location')
      expect(await stopServer(first)).toBe(0)
      expect(first.logs.some((l) => l.msg === 'embedded PostgreSQL stopped')).toBe(true)

      const second = await startServer(env)
      // The signing key lives in the database: a token from before the restart still works.
      const read = await fetch(`${second.baseUrl}${location}`, { headers: { authorization: `Bearer ${token}` } })
      expect(read.status).toBe(200)
      expect(await read.json()).toMatchObject({ name: 'process test', transcript: ingestBody.transcript })
      const ready = second.logs.find((l) => l.msg === 'recording-store ready')
      console.log(`embedded start-up: first ${String(first.logs.find((l) => l.msg === 'recording-store ready')?.startupMs)} ms (creates the cluster), restart ${String(ready?.startupMs)} ms`)
      expect(await stopServer(second)).toBe(0)
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})
