// The two servers under test as child processes, their memory, and autocannon runs against them.
import autocannon from 'autocannon'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { freePort, ROOT } from './database.js'

export type ServerName = 'service' | 'baseline'

export interface Server {
  name: ServerName
  url: string
  pid: number
  /** application_name of its PostgreSQL connections (PGAPPNAME), which tells its backends apart. */
  appName: string
  /** Headers every request carries (the service's bearer token). */
  headers: Record<string, string>
  stop(): Promise<void>
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// Whatever ends the bench, the servers it started end with it.
const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130))

function launch(file: string, env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [file], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child)
      resolve(code)
    }),
  )
  return { child, output: () => output, exited }
}

function stopper(child: ChildProcess, exited: Promise<number | null>) {
  return async () => {
    if (child.exitCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(timer)
  }
}

async function until<T>(what: string, exited: Promise<number | null>, output: () => string, probe: () => Promise<T | undefined>): Promise<T> {
  let gone: number | null | undefined
  void exited.then((code) => (gone = code))
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    if (gone !== undefined) throw new Error(`${what} exited with ${gone} before it was ready:\n${output()}`)
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    await sleep(100)
  }
  throw new Error(`${what} was not ready within 2 minutes:\n${output()}`)
}

/**
 * `node dist/server.js`, exactly what `npm start` runs, with request logging off (LOG_LEVEL=warn, which also hides
 * the "listening" line: the port is chosen here) and the rate limit out of the way. Returns it with a bearer token
 * of the bootstrap client, obtained over HTTP like any client does.
 */
export async function startService(databaseUrl: string, poolSize: number, env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort()
  const client = { id: 'bench-client', secret: 'bench-secret-0123456789abcdef' }
  const { child, output, exited } = launch(path.join(ROOT, 'dist', 'server.js'), {
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
    MIGRATE_ON_START: 'false',
    DATABASE_POOL_SIZE: String(poolSize),
    RATE_LIMIT_PER_MINUTE: '100000000',
    BOOTSTRAP_CLIENT_ID: client.id,
    BOOTSTRAP_CLIENT_SECRET: client.secret,
    PGAPPNAME: 'bench-service',
    ...env,
  })
  const url = `http://127.0.0.1:${port}`
  await until('the service', exited, output, async () => ((await fetch(`${url}/health/ready`)).ok ? true : undefined))
  const res = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  })
  if (!res.ok) throw new Error(`POST /oauth/token answered ${res.status}: ${await res.text()}`)
  const { access_token: token } = (await res.json()) as { access_token: string }
  return { name: 'service', url, pid: child.pid as number, appName: env.PGAPPNAME ?? 'bench-service', headers: { authorization: `Bearer ${token}` }, stop: stopper(child, exited) }
}

/** bench/dist/baseline.js over the same database, with the same pool size. */
export async function startBaseline(databaseUrl: string, poolSize: number, organizationId: string): Promise<Server> {
  const { child, output, exited } = launch(path.join(ROOT, 'bench', 'dist', 'baseline.js'), {
    DATABASE_URL: databaseUrl,
    PORT: '0',
    DATABASE_POOL_SIZE: String(poolSize),
    BENCH_ORGANIZATION_ID: organizationId,
    PGAPPNAME: 'bench-baseline',
  })
  const url = await until('the baseline', exited, output, async () => listening(output()))
  return { name: 'baseline', url, pid: child.pid as number, appName: 'bench-baseline', headers: {}, stop: stopper(child, exited) }
}

/** bench/dist/media-baseline.js over the service's DATA_DIR. */
export async function startMediaBaseline(dataDir: string): Promise<Server> {
  const { child, output, exited } = launch(path.join(ROOT, 'bench', 'dist', 'media-baseline.js'), { DATA_DIR: dataDir, PORT: '0' })
  const url = await until('the media baseline', exited, output, async () => listening(output()))
  return { name: 'baseline', url, pid: child.pid as number, appName: 'bench-media-baseline', headers: {}, stop: stopper(child, exited) }
}

/** The URL a baseline prints as {"listening": …} once it listens. */
function listening(output: string): string | undefined {
  const line = output.split('\n').find((text) => text.startsWith('{"listening"'))
  return line ? (JSON.parse(line) as { listening: string }).listening : undefined
}

const KB = /(\d+) kB/
/** A process's resident memory (VmRSS) or its peak so far (VmHWM), in bytes; undefined where /proc is missing. */
export function memory(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((text) => text.startsWith(`${field}:`))
    const kb = line && KB.exec(line)?.[1]
    return kb ? Number(kb) * 1024 : undefined
  } catch {
    return undefined
  }
}

/** CPU time (user + system) a process has used so far, in ms; undefined when it cannot be read. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // After "pid (command) ": state is the first field, utime the 12th and stime the 13th, in ticks of 10 ms.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

/** What one server is sent during a run: each request is the next of `requests`, round robin. */
export interface Plan {
  method: 'GET' | 'POST'
  /** Paths used in turn; a function makes a fresh one per request (ingest: a new conversation each time). */
  paths: string[] | ((n: number) => string)
  body?: string
  /** Headers of each request, made fresh for it (random ranges). */
  headers?: () => Record<string, string>
}

export interface Run {
  /** 2xx answers, and everything else. */
  ok: number
  failed: number
  seconds: number
  /** Latency of every 2xx answer, in ms. */
  latencies: number[]
  peakRss?: number
  /** CPU time of the server process and its PostgreSQL backends during the run, in ms (when they can be read). */
  cpuMs?: number
  /** The part of `cpuMs` the server process itself used (the rest is its backends'). */
  serverCpuMs?: number
  statusCodes: Record<string, number>
}

/** CPU used so far by the server and by its database backends (`backends` lists their pids; undefined: unknown). */
async function cpuSnapshot(server: Server, backends: (server: Server) => Promise<number[] | undefined>) {
  const pids = await backends(server)
  if (!pids) return undefined
  const own = cpuMs(server.pid)
  if (own === undefined) return undefined
  const snapshot = new Map<number, number>([[server.pid, own]])
  for (const pid of pids) {
    // A backend can close between the query and here (an idle pool connection timing out): it is left out.
    const ms = cpuMs(pid)
    if (ms !== undefined) snapshot.set(pid, ms)
  }
  return snapshot
}

/**
 * One autocannon run of `seconds` with `connections` against `server`, sampling its RSS every 100 ms and reading the
 * CPU time it and its database backends used.
 */
export async function drive(
  server: Server,
  plan: Plan,
  options: {
    connections: number
    seconds: number
    backends: (server: Server) => Promise<number[] | undefined>
    /** Requests per second over all connections; unset: each connection sends its next request on each answer. */
    rate?: number
  },
): Promise<Run> {
  let n = 0
  const pathOf = typeof plan.paths === 'function' ? plan.paths : (i: number) => (plan.paths as string[])[i % (plan.paths as string[]).length] as string
  const headers = { ...server.headers, ...(plan.body ? { 'content-type': 'application/json' } : {}) }
  const latencies: number[] = []
  let peakRss = memory(server.pid, 'VmRSS')
  const sampler = setInterval(() => {
    const rss = memory(server.pid, 'VmRSS')
    if (rss !== undefined) peakRss = Math.max(peakRss ?? 0, rss)
  }, 100)
  try {
    const before = await cpuSnapshot(server, options.backends)
    const instance = autocannon({
      url: server.url,
      connections: options.connections,
      duration: options.seconds,
      ...(options.rate ? { overallRate: options.rate } : {}),
      timeout: 30,
      headers,
      requests: [
        {
          method: plan.method,
          ...(plan.body ? { body: plan.body } : {}),
          setupRequest: (request) => ({ ...request, path: pathOf(n++), ...(plan.headers ? { headers: { ...request.headers, ...plan.headers() } } : {}) }),
        },
      ],
    })
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms)
    })
    const result = await instance
    const after = await cpuSnapshot(server, options.backends)
    // Backends opened during the run count whole; one closed during the run would be missed (pools stay open under load).
    const cpu = before && after ? [...after].reduce((sum, [pid, ms]) => sum + ms - (before.get(pid) ?? 0), 0) : undefined
    const own = before && after ? (after.get(server.pid) ?? 0) - (before.get(server.pid) ?? 0) : undefined
    const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]))
    return {
      ok: result['2xx'], failed: result.non2xx + result.errors, seconds: result.duration, latencies, peakRss,
      ...(cpu === undefined ? {} : { cpuMs: cpu, serverCpuMs: own }), statusCodes,
    }
  } finally {
    clearInterval(sampler)
  }
}
