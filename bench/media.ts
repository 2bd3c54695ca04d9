// Media endpoints of the bench: uploads, whole downloads and random ranges through the service's routes, against
// bench/media-baseline.ts on the same disk, and the service's memory while many large uploads arrive at once.
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, readdir, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { cpuMs, drive, memory, startMediaBaseline, type Server, type ServerName } from './load.js'

export const MEDIA_KEYS = ['media-upload', 'media-download', 'media-range', 'media-rss']

export interface MediaResult {
  key: string
  label: string
  detail: string
  unit: 'MB/s' | 'req/s' | 'MB'
  /** Service over baseline at least `minimum` (throughput), or the service's figure under `maximum` (memory, MB). */
  target: { minimum: number } | { maximum: number }
  /** Set when the service cannot be measured here. */
  unavailable?: string
  /** Outcome of comparing what the two servers stored or answered, before timing. */
  check?: string
  service?: number
  baseline?: number
  /** The figure of each timed round. */
  rounds?: Record<ServerName, number[]>
  failed?: Record<ServerName, number>
  /** CPU ms of the server process and its database backends per MB (MB/s) or per request (req/s). */
  cpu?: Record<ServerName, number>
}

export interface MediaSettings {
  smoke: boolean
  duration: number
  rounds: number
  warmup: number
  connections: number
}

const MB = 2 ** 20
const RANGE = 64 * 1024
const HEADER = 44

/**
 * A real WAV of exactly `size` bytes (16-bit mono PCM at 8 kHz, a 440 Hz tone, as test/media.ts makes), written in
 * blocks: 200 samples hold 11 whole periods, so a block of them repeats seamlessly.
 */
async function writeWav(file: string, size: number) {
  const dataBytes = (size - HEADER) & ~1
  const header = Buffer.alloc(HEADER)
  header.write('RIFF', 0, 'ascii')
  header.writeUInt32LE(36 + dataBytes, 4)
  header.write('WAVEfmt ', 8, 'ascii')
  header.writeUInt32LE(16, 16)
  header.writeUInt16LE(1, 20) // PCM
  header.writeUInt16LE(1, 22) // mono
  header.writeUInt32LE(8000, 24)
  header.writeUInt32LE(16000, 28)
  header.writeUInt16LE(2, 32)
  header.writeUInt16LE(16, 34)
  header.write('data', 36, 'ascii')
  header.writeUInt32LE(dataBytes, 40)
  const block = Buffer.alloc(200 * 2 * 1000)
  for (let i = 0; i < block.length / 2; i++) block.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)), i * 2)
  await pipeline(async function* () {
    yield header
    for (let left = dataBytes; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left)
  }, createWriteStream(file))
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })

/**
 * One request with its body streamed from `file`, answered `expected`; resolves the bytes received, each chunk also
 * passed to `sink`. Errors name the path only: a signed URL's query is a credential.
 */
function exchange(url: string, options: { method: string; expected: number; headers?: Record<string, string>; file?: string; sink?: (chunk: Buffer) => void }): Promise<number> {
  const { method, expected, headers = {}, file, sink } = options
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers, agent }, (response) => {
      let bytes = 0
      let text = ''
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length
        if (response.statusCode === expected) sink?.(chunk)
        else if (text.length < 300) text += chunk.toString()
      })
      response.on('error', reject)
      response.on('end', () => {
        if (response.statusCode === expected) resolve(bytes)
        else reject(new Error(`${method} ${new URL(url).pathname} answered ${response.statusCode}: ${text.slice(0, 300)}`))
      })
    })
    request.on('error', reject)
    if (file) pipeline(createReadStream(file), request).catch(reject)
    else request.end()
  })
}

interface Measured {
  /** Bytes or requests. */
  amount: number
  seconds: number
  failed: number
  error?: string
}

/** `clients` loops of `once` until `seconds` have passed: what they moved over the time it took. */
async function loop(clients: number, seconds: number, once: (client: number) => Promise<number>): Promise<Measured> {
  const started = performance.now()
  const end = started + seconds * 1000
  const measured: Measured = { amount: 0, seconds: 0, failed: 0 }
  await Promise.all(Array.from({ length: clients }, async (_, client) => {
    while (performance.now() < end) {
      try {
        measured.amount += await once(client)
      } catch (error) {
        measured.failed += 1
        measured.error ??= String(error)
      }
    }
  }))
  measured.seconds = (performance.now() - started) / 1000
  return measured
}

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex')

export async function measureMedia(options: {
  keys: string[]
  service: Server
  /** The service's DATA_DIR; the files to upload are made in `work`. */
  dataDir: string
  work: string
  runId: string
  settings: MediaSettings
  /** The pids of a server's PostgreSQL backends, when they can be told apart. */
  backends: (server: Server) => Promise<number[] | undefined>
  log: (line: string) => void
}): Promise<MediaResult[]> {
  const { keys, service, dataDir, work, runId, settings, backends, log } = options
  const sizes = settings.smoke ? { file: MB, big: MB, clients: 2, together: 2 } : { file: 50 * MB, big: 200 * MB, clients: 4, together: 20 }
  const mediaRoot = path.join(dataDir, 'media')
  const file = path.join(work, 'upload.wav')
  const big = path.join(work, 'big.wav')
  await mkdir(work, { recursive: true })
  await writeWav(file, sizes.file)
  if (keys.includes('media-rss')) await writeWav(big, sizes.big)
  const fileSha = await sha256(file)

  const baseline = await startMediaBaseline(dataDir)
  log(`bench: media baseline on ${baseline.url} (pid ${baseline.pid})`)
  const servers = [service, baseline]
  const results: MediaResult[] = []
  let uploads = 0

  const api = async (method: string, apiPath: string, body?: object) => {
    const res = await fetch(`${service.url}${apiPath}`, {
      method, headers: { ...service.headers, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${apiPath} answered ${res.status}: ${text.slice(0, 300)}`)
    return JSON.parse(text) as Record<string, unknown>
  }
  /** A recording waiting for its media; the conversation prefix is the one a reused database is cleaned of. */
  const newRecording = async () => {
    const conversation = `/api/v2/conversations/bench-ingest-media-${runId}-${uploads++}/recordings`
    const recording = await api('POST', conversation, { name: 'bench upload', media: 'audio', startTime: new Date().toISOString() })
    return { id: String(recording.id), path: `${conversation}/${String(recording.id)}` }
  }
  /** Where the service keeps a recording's media: DATA_DIR/media/<organization>/<recording>/<key>. */
  const storedDir = async (recordingId: string) => {
    for (const organization of await readdir(mediaRoot)) {
      const dir = path.join(mediaRoot, organization, recordingId)
      if ((await readdir(dir).catch(() => [])).length > 0) return dir
    }
    throw new Error(`no stored media of recording ${recordingId} under ${mediaRoot}`)
  }

  /**
   * One upload of `source` per call, answered by the bytes sent. Each goes to a new recording, ingested while the
   * previous upload of the same client runs, so the upload's time is the PUT's alone. What was stored is removed
   * after the answer: the disk would fill up otherwise.
   */
  const uploader = (server: Server, source: string, size: number): ((client: number) => Promise<number>) => {
    const put = { method: 'PUT', file: source, headers: { 'content-type': 'audio/wav', 'content-length': String(size) } }
    if (server.name === 'baseline') {
      return async () => {
        const name = `${runId}-${uploads++}`
        await exchange(`${server.url}/uploads/${name}`, { ...put, expected: 201 })
        await rm(path.join(dataDir, 'uploads', name))
        return size
      }
    }
    const next = new Map<number, Promise<{ id: string; path: string }>>()
    const prepare = (client: number) => {
      const made = newRecording()
      made.catch(() => undefined) // left unused when the loop ends; a failure shows when it is awaited
      next.set(client, made)
    }
    return async (client) => {
      const recording = await (next.get(client) ?? newRecording())
      prepare(client)
      await exchange(`${server.url}${recording.path}/media`, { ...put, headers: { ...put.headers, ...server.headers }, expected: 200 })
      await rm(await storedDir(recording.id), { recursive: true })
      return size
    }
  }

  /** CPU used so far by a server and its database backends (a backend that closed meanwhile would be missed). */
  const cpuOf = async (server: Server) => [server.pid, ...((await backends(server)) ?? [])].reduce((sum, pid) => sum + (cpuMs(pid) ?? 0), 0)

  /** Warm-up, then the timed rounds, the two servers alternating (and which goes first, too). */
  const rounds = async (label: string, unit: MediaResult['unit'], measure: (server: Server, seconds: number) => Promise<Measured>) => {
    if (settings.warmup > 0) for (const server of servers) await measure(server, settings.warmup)
    const per = unit === 'MB/s' ? MB : 1
    const runs: Record<ServerName, (Measured & { cpu: number })[]> = { service: [], baseline: [] }
    for (let round = 0; round < settings.rounds; round++) {
      for (const server of round % 2 === 0 ? servers : [...servers].reverse()) {
        const before = await cpuOf(server)
        const run = await measure(server, settings.duration)
        const cpu = (await cpuOf(server)) - before
        runs[server.name].push({ ...run, cpu })
        const perUnit = run.amount > 0 ? `, ${(cpu / (run.amount / per)).toFixed(2)} ms CPU per ${unit === 'MB/s' ? 'MB' : 'request'}` : ''
        log(`bench: ${label}, round ${round + 1}, ${server.name}: ${(run.amount / run.seconds / per).toFixed(1)} ${unit}${perUnit}${run.failed ? `, ${run.failed} failed (${run.error})` : ''}`)
      }
    }
    const sum = (name: ServerName, field: 'amount' | 'seconds' | 'failed' | 'cpu') => runs[name].reduce((total, run) => total + run[field], 0)
    const figures = (name: ServerName) => ({
      value: sum(name, 'amount') / sum(name, 'seconds') / per,
      rounds: runs[name].map((run) => run.amount / run.seconds / per),
      failed: sum(name, 'failed'),
      cpu: sum(name, 'amount') > 0 ? sum(name, 'cpu') / (sum(name, 'amount') / per) : 0,
    })
    const [s, b] = [figures('service'), figures('baseline')]
    return {
      service: s.value, baseline: b.value,
      rounds: { service: s.rounds, baseline: b.rounds },
      failed: { service: s.failed, baseline: b.failed },
      cpu: { service: s.cpu, baseline: b.cpu },
    }
  }

  try {
    if (keys.includes('media-upload')) {
      // Both servers must keep the bytes intact, or the ratio compares different work.
      const stored = await newRecording()
      await exchange(`${service.url}${stored.path}/media`, { method: 'PUT', file, headers: { ...service.headers, 'content-type': 'audio/wav' }, expected: 200 })
      const serviceDir = await storedDir(stored.id)
      const [serviceFile = ''] = await readdir(serviceDir)
      const same = (await sha256(path.join(serviceDir, serviceFile))) === fileSha
      await rm(serviceDir, { recursive: true })
      await exchange(`${baseline.url}/uploads/${runId}-check`, { method: 'PUT', file, expected: 201 })
      const baselineSame = (await sha256(path.join(dataDir, 'uploads', `${runId}-check`))) === fileSha
      await rm(path.join(dataDir, 'uploads', `${runId}-check`))
      const check = same && baselineSame ? 'both stored the bytes sent' : `the bytes stored differ from those sent (service: ${same ? 'same' : 'different'}, baseline: ${baselineSame ? 'same' : 'different'})`

      for (const clients of [1, sizes.clients]) {
        const label = `upload, ${clients} client${clients === 1 ? '' : 's'}`
        log(`bench: media ${label}: ${check}`)
        results.push({
          key: 'media-upload',
          label,
          detail:
            `PUT …/recordings/{id}/media of a ${sizes.file / MB} MB WAV (Content-Type audio/wav, streamed from disk), a new recording each time ` +
            `(ingested while the previous upload runs, so not timed), ${clients} client${clients === 1 ? '' : 's'} uploading one after the other; ` +
            'the baseline streams the same bytes to a file in the same DATA_DIR and fsyncs it. MB/s of bodies sent, over the wall-clock time.',
          unit: 'MB/s',
          target: { minimum: 0.8 },
          check,
          ...(await rounds(`media ${label}`, 'MB/s', (server, seconds) => loop(clients, seconds, uploader(server, file, sizes.file)))),
        })
      }
    }

    if (keys.includes('media-download') || keys.includes('media-range')) {
      // The stored file both servers read: uploaded once through the service, reached by its signed URL.
      let target: { service: string; baseline: string } | { unavailable: string }
      const recording = await newRecording()
      await exchange(`${service.url}${recording.path}/media`, { method: 'PUT', file, headers: { ...service.headers, 'content-type': 'audio/wav' }, expected: 200 })
      // download=true: the media as stored; a plain GET asks for WEBM (Genesys's default), which would be made first.
      const read = await api('GET', `${recording.path}?download=true`) as { mediaUris?: Record<string, { mediaUri?: string }> }
      const signed = read.mediaUris?.S?.mediaUri
      if (signed) {
        const dir = await storedDir(recording.id)
        const [name = ''] = await readdir(dir)
        target = { service: signed, baseline: `${baseline.url}/files/${path.relative(mediaRoot, path.join(dir, name)).split(path.sep).join('/')}` }
      } else {
        target = { unavailable: `the recording answers no signed URL of its stored media (mediaUris.S.mediaUri); mediaUris: ${JSON.stringify(read.mediaUris ?? null)}` }
        log(`bench: media download and range: not available (${target.unavailable})`)
      }
      const urlOf = (server: Server) => ('unavailable' in target ? '' : target[server.name])

      if (keys.includes('media-download')) {
        const result: MediaResult = {
          key: 'media-download',
          label: `download, ${sizes.clients} clients`,
          detail: `GET of the stored ${sizes.file / MB} MB WAV through its signed URL (mediaUris.S.mediaUri), whole, ${sizes.clients} clients one download after the other; the baseline is @fastify/static serving the same file. MB/s received.`,
          unit: 'MB/s',
          target: { minimum: 0.9 },
        }
        results.push(result)
        if ('unavailable' in target) result.unavailable = target.unavailable
        else {
          const hashes = await Promise.all(servers.map(async (server) => {
            const hash = createHash('sha256')
            await exchange(urlOf(server), { method: 'GET', expected: 200, sink: (chunk) => hash.update(chunk) })
            return hash.digest('hex')
          }))
          result.check = hashes.every((hash) => hash === fileSha) ? 'both answered the bytes uploaded' : 'the bytes answered differ from those uploaded'
          log(`bench: media ${result.label}: ${result.check}`)
          Object.assign(result, await rounds(`media ${result.label}`, 'MB/s', (server, seconds) =>
            loop(sizes.clients, seconds, () => exchange(urlOf(server), { method: 'GET', expected: 200 }))))
        }
      }

      if (keys.includes('media-range')) {
        const result: MediaResult = {
          key: 'media-range',
          label: `random 64 KB ranges, ${settings.connections} connections`,
          detail: `GET of the same file with Range: bytes=a-(a+65535), a random in the file each request, autocannon with ${settings.connections} connections; the baseline is @fastify/static. 206 answers per second.`,
          unit: 'req/s',
          target: { minimum: 0.8 },
        }
        results.push(result)
        if ('unavailable' in target) result.unavailable = target.unavailable
        else {
          const range = () => {
            const start = Math.floor(Math.random() * (sizes.file - RANGE + 1))
            return { range: `bytes=${start}-${start + RANGE - 1}` }
          }
          const fixed = { range: `bytes=${sizes.file - RANGE}-${sizes.file - 1}` }
          const parts = await Promise.all(servers.map(async (server) => {
            const hash = createHash('sha256')
            await exchange(urlOf(server), { method: 'GET', expected: 206, headers: fixed, sink: (chunk) => hash.update(chunk) })
            return hash.digest('hex')
          }))
          result.check = parts[0] === parts[1] ? 'identical 206 answers' : 'the 206 answers differ'
          log(`bench: media ${result.label}: ${result.check}`)
          Object.assign(result, await rounds(`media ${result.label}`, 'req/s', async (server, seconds) => {
            const url = new URL(urlOf(server))
            // No bearer token: a signed URL is all a player has.
            const run = await drive({ ...server, url: url.origin, headers: {} }, { method: 'GET', paths: [`${url.pathname}${url.search}`], headers: range }, {
              connections: settings.connections, seconds, backends: async () => undefined,
            })
            return { amount: run.ok, seconds: run.seconds, failed: run.failed, ...(run.failed ? { error: JSON.stringify(run.statusCodes) } : {}) }
          }))
        }
      }
    }

    if (keys.includes('media-rss')) {
      const result: MediaResult = {
        key: 'media-rss',
        label: `peak RSS, ${sizes.together} uploads of ${sizes.big / MB} MB at once`,
        detail: `${sizes.together} clients each start one PUT of a ${sizes.big / MB} MB WAV at the same moment; VmRSS of the server process sampled every 20 ms, the highest kept. The baseline is the upload baseline above.`,
        unit: 'MB',
        target: { maximum: 250 },
      }
      results.push(result)
      if (memory(service.pid, 'VmRSS') === undefined) result.unavailable = 'no /proc on this system'
      else {
        const peaks: Partial<Record<ServerName, number>> = {}
        const failed: Record<ServerName, number> = { service: 0, baseline: 0 }
        for (const server of servers) {
          const once = uploader(server, big, sizes.big)
          let peak = memory(server.pid, 'VmRSS') ?? 0
          const idle = peak
          const sampler = setInterval(() => (peak = Math.max(peak, memory(server.pid, 'VmRSS') ?? 0)), 20)
          const started = performance.now()
          try {
            const outcomes = await Promise.allSettled(Array.from({ length: sizes.together }, (_, client) => once(client)))
            failed[server.name] = outcomes.filter((outcome) => outcome.status === 'rejected').length
            const rejected = outcomes.find((outcome) => outcome.status === 'rejected')
            if (rejected) log(`bench: media rss, ${server.name}: ${failed[server.name]} uploads failed (${String(rejected.reason)})`)
          } finally {
            clearInterval(sampler)
          }
          peaks[server.name] = peak / MB
          log(`bench: media rss, ${server.name}: peak ${Math.round(peak / MB)} MB (idle ${Math.round(idle / MB)} MB), ${sizes.together} uploads in ${((performance.now() - started) / 1000).toFixed(1)} s`)
        }
        Object.assign(result, { service: peaks.service, baseline: peaks.baseline, failed, rounds: { service: [peaks.service ?? 0], baseline: [peaks.baseline ?? 0] } })
      }
    }
  } finally {
    await baseline.stop()
    agent.destroy()
    await rm(work, { recursive: true, force: true })
  }
  return results
}
