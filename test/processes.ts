import { spawn, type ChildProcess } from 'node:child_process'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { pino } from 'pino'
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/db/embedded-postgres.js'
import { PROJECT_ROOT } from '../src/db/migrations.js'

/** The built entry points, exactly what `npm start` and `npm run clients` run (`npm test` builds first). */
export const SERVER = path.join(PROJECT_ROOT, 'dist', 'server.js')
export const CLI = path.join(PROJECT_ROOT, 'dist', 'cli', 'clients.js')

export const BOOTSTRAP = { BOOTSTRAP_CLIENT_ID: 'process-test-client', BOOTSTRAP_CLIENT_SECRET: 'process-test-secret-0123456789' }

const children = new Set<ChildProcess>()
/** For afterAll: whatever a failed test left running. */
export function killLeftovers() {
  for (const child of children) child.kill('SIGKILL')
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

/** A port some other program is listening on (accepting connections, never answering). */
export async function takenPort(): Promise<{ port: number; release(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = await new Promise((resolve) => {
    const listening = createServer((socket) => sockets.add(socket)).listen(0, '127.0.0.1', () => resolve(listening))
  })
  const { port } = server.address() as { port: number }
  return {
    port,
    release: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface Finished {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

/** Runs a command to its end with only these settings (the test run's own DATABASE_URL must not leak into it). */
export function run(command: string, args: string[], env: Record<string, string>): Promise<Finished> {
  const started = performance.now()
  const child = spawn(command, args, {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_PRETTY: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      children.delete(child)
      resolve({ code, signal, stdout, stderr, ms: Math.round(performance.now() - started) })
    })
  })
}

export interface Service {
  process: ChildProcess
  baseUrl: string
  /** The server's JSON log lines so far. */
  logs: Record<string, unknown>[]
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * Starts `command` (dist/server.js by default, or `npm start`) and resolves once the service logs that it is ready.
 * Lines that are not JSON (npm's banner) are skipped.
 */
export function startService(
  env: Record<string, string>,
  command: [string, ...string[]] = [process.execPath, SERVER],
  { detached = false } = {},
): Promise<Service> {
  const [file, ...args] = command
  const child = spawn(file, args, {
    cwd: PROJECT_ROOT,
    // A process group of its own, to signal as a terminal does (Ctrl-C reaches every process of the group).
    detached,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', HOST: '127.0.0.1', LOG_PRETTY: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  const logs: Record<string, unknown>[] = []
  let stderr = ''
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child)
      resolve({ code, signal })
    }),
  )
  return new Promise((resolve, reject) => {
    let buffered = ''
    let baseUrl: string | undefined
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        if (!line.startsWith('{')) continue
        const entry = JSON.parse(line) as Record<string, unknown>
        logs.push(entry)
        baseUrl ??= /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(entry.msg))?.[1]
        if (entry.msg === 'recording-store ready' && baseUrl) resolve({ process: child, baseUrl, logs, exited })
      }
    })
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    void exited.then(({ code, signal }) =>
      reject(new Error(`service exited (${code ?? signal}) before it was ready:\n${stderr}\n${JSON.stringify(logs)}`)),
    )
  })
}

/** A bearer token from the service's /oauth/token, as any client gets one. */
export async function tokenFrom(baseUrl: string, clientId = BOOTSTRAP.BOOTSTRAP_CLIENT_ID, clientSecret = BOOTSTRAP.BOOTSTRAP_CLIENT_SECRET): Promise<string> {
  const res = await fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  })
  if (res.status !== 200) throw new Error(`token refused: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { access_token: string }).access_token
}

/** A temporary directory the embedded PostgreSQL can use (it runs as the `postgres` user when we are root). */
export async function scratchDir(name: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `recording-store-${name}-`))
  await chmod(dir, 0o755)
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

export interface PrivatePostgres {
  url: string
  port: number
  /** Fast shutdown, as an operator's `pg_ctl stop` does: sessions are ended, new connections refused. */
  stop(): Promise<void>
  start(): Promise<void>
  remove(): Promise<void>
}

/** A PostgreSQL server of the test's own, to stop and start at will: never the one other tests share. */
export async function privatePostgres(): Promise<PrivatePostgres> {
  const scratch = await scratchDir('faults')
  const port = await freePort()
  const logger = pino({ level: 'warn' })
  const open = () => startEmbeddedPostgres({ dataDir: scratch.dir, port, logger })
  let server: EmbeddedDatabase | undefined = await open()
  const url = server.url
  return {
    url,
    port,
    async stop() {
      await server?.stop()
      server = undefined
    },
    async start() {
      server = await open()
    },
    async remove() {
      await server?.stop()
      server = undefined
      await scratch.remove()
    },
  }
}
