// Transcoding in the bench: renditions the service makes on request (GET …?formatId=…: 202, a job runs ffmpeg, then
// 200), each figure against a baseline measured in the same run. The baseline of ffmpeg's work is the same command
// line (transcodeArgs of the built service) with the same binary, run directly from the bench on the same file; the
// baseline of the API's latency is the same load on an idle service.
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, readFile, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type pg from 'pg'
import { fromDist } from './database.js'
import { drive, sleep, type Plan, type Server } from './load.js'
import { figures, seconds, type RatioResult } from './report.js'

export const TRANSCODE_KEYS = ['transcode-throughput', 'transcode-wait', 'transcode-p99']

/** A row of the transcoding section: a ratio row whose figures are audio seconds per CPU second, or latencies. */
export type TranscodeResult = Omit<RatioResult, 'unit'> & { unit: 'audio s per CPU s' | 'ms' }

export interface TranscodeSettings {
  smoke: boolean
  duration: number
  warmup: number
  connections: number
}

type Format = 'MP3' | 'OGG_OPUS' | 'WEBM'
type Ffmpeg = {
  ffmpegPath(configured: string | undefined): string
  transcodeArgs(input: string, output: string, format: Format, video: boolean): string[]
}

/** Clock ticks per second of /proc/<pid>/stat times. */
const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    return Number.isFinite(n) && n > 0 ? n : 100
  } catch {
    return 100
  }
})()

/**
 * CPU ms a process has used (utime + stime) and that of its children it has waited for (cutime + cstime): ffmpeg
 * processes land in the latter once they have exited and been reaped.
 */
function cpuTimes(pid: number | 'self'): { own: number; children: number } {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const ms = (...indexes: number[]) => indexes.reduce((sum, i) => sum + Number(fields[i]), 0) * (1000 / CLK_TCK)
  return { own: ms(11, 12), children: ms(13, 14) }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length === 0 ? NaN : sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/** At most `limit` tasks at once, as the service's limiter runs its ffmpeg processes. */
async function limited<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = []
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) {
      const i = next++
      results[i] = await (tasks[i] as () => Promise<T>)()
    }
  }))
  return results
}

interface Answer {
  status: number
  body: { id?: string; mediaUris?: { S?: { mediaUri?: string } }; actualTranscodeTimeMs?: number; estimatedTranscodeTimeMs?: number; outputSizeInBytes?: number; recordingErrorStatus?: string }
}

export async function measureTranscode(options: {
  keys: string[]
  service: Server
  work: string
  runId: string
  settings: TranscodeSettings
  /** The bench's own connection to the service's database: it reads the job queue and the renditions, never writes. */
  sql: pg.Client
  /** Get-one paths of the seeded recordings, for the latency rows. */
  getPaths: string[]
  log: (line: string) => void
}): Promise<TranscodeResult[]> {
  const { keys, service, work, runId, settings, sql, getPaths, log } = options
  const { ffmpegPath, transcodeArgs } = await fromDist<Ffmpeg>('media/ffmpeg.js')
  // The service is started without FFMPEG_PATH: it runs the binary npm installed, and so does the baseline.
  const ffmpeg = ffmpegPath(undefined)
  // The service's TRANSCODE_CONCURRENCY is unset: one less than the CPUs, at least one (src/app.ts).
  const concurrency = Math.max(1, os.availableParallelism() - 1)
  const size = settings.smoke
    ? { callSeconds: 2, calls: 1, waits: 1, batch: 1 }
    : { callSeconds: 600, calls: 3, waits: 2, batch: 0 /* from the time of one WEBM transcode, below */ }
  const callLabel = settings.smoke ? `${size.callSeconds}-second` : `${size.callSeconds / 60}-minute`
  const callsOf = (n: number) => `${n} ${callLabel} call${n === 1 ? '' : 's'}`
  await mkdir(work, { recursive: true })
  const input = path.join(work, 'call.wav')
  const results: TranscodeResult[] = []

  /** One ffmpeg run of transcodeArgs from the bench, as the service runs it (progress on a pipe): its wall ms. */
  const direct = (format: Format, output: string) => new Promise<number>((resolve, reject) => {
    const started = performance.now()
    const child = spawn(ffmpeg, transcodeArgs(input, output, format, false), { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stdout.resume()
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-2000)))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`ffmpeg ${format} exited with ${code}: ${stderr}`))))
  })

  const api = async (method: string, apiPath: string, body?: Buffer | object, contentType?: string): Promise<Answer> => {
    const res = await fetch(`${service.url}${apiPath}`, {
      method,
      headers: { ...service.headers, ...(body ? { 'content-type': contentType ?? 'application/json' } : {}) },
      ...(body ? { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${apiPath} answered ${res.status}: ${text.slice(0, 300)}`)
    return { status: res.status, body: JSON.parse(text) as Answer['body'] }
  }
  /** A GET for `format`; a 200 must carry the rendition. */
  const ask = async (recording: string, format: Format): Promise<Answer> => {
    const answer = await api('GET', `${recording}?formatId=${format}`)
    if (answer.status === 200 && !answer.body.mediaUris?.S?.mediaUri) {
      throw new Error(`GET ${format} answered 200 without mediaUris.S.mediaUri${answer.body.recordingErrorStatus ? ` (${answer.body.recordingErrorStatus})` : ''}`)
    }
    return answer
  }
  /** Asks until 200, `pause` ms after each 202: the 200. */
  const untilMade = async (recording: string, format: Format, pause: number, deadline = Date.now() + 600_000): Promise<Answer> => {
    for (;;) {
      const answer = await ask(recording, format)
      if (answer.status === 200) return answer
      if (Date.now() > deadline) throw new Error(`the ${format} rendition of ${recording} was not made within 10 minutes`)
      await sleep(pause)
    }
  }
  /**
   * Waits until the service's job queue holds no waveform or transcode (queued at upload and by requests) still to
   * run; one that failed for good stays in the queue, and is not waited for.
   */
  const quiet = async () => {
    const deadline = Date.now() + 600_000
    for (;;) {
      const { rows: [row] } = await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE task_identifier IN ('media.waveform', 'media.transcode') AND attempts < max_attempts`,
      )
      if ((row?.n ?? 0) === 0) return
      if (Date.now() > deadline) throw new Error(`${row?.n} waveform or transcode jobs still queued after 10 minutes`)
      await sleep(100)
    }
  }
  const pending = async (ids: string[], format: Format) => {
    const { rows: [row] } = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM renditions WHERE recording_id = ANY($1::uuid[]) AND format = $2 AND state = 'PENDING'`, [ids, format],
    )
    return row?.n ?? 0
  }

  try {
    // A call as a contact center records it: 16-bit PCM at 8 kHz, mono, a 440 Hz tone under pink noise (a pure tone
    // would be unusually easy to encode).
    const source = (filter: string) => ['-f', 'lavfi', '-i', `${filter}:sample_rate=8000:duration=${size.callSeconds}`]
    execFileSync(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', ...source('sine=frequency=440'), ...source('anoisesrc=color=pink:amplitude=0.1'),
      '-filter_complex', 'amix=inputs=2', '-ac', '1', '-c:a', 'pcm_s16le', input])
    const bytes = await readFile(input)
    log(`bench: transcode: ${callLabel} 8 kHz mono WAV (${(bytes.length / 2 ** 20).toFixed(1)} MB), ffmpeg ${ffmpeg}, ${concurrency} at once`)

    // One WEBM from the bench first: it warms the binary and the file up, and sizes the batch of the latency rows.
    const webmMs = await direct('WEBM', path.join(work, 'warm.webm'))
    // Enough to keep every ffmpeg slot busy through both timed windows of the latency rows, and one more per slot (under
    // that load a transcode takes longer than this one did); no more, or the bench waits for the rest.
    const batch = size.batch || Math.min(24, Math.ceil((2 * settings.duration * 1000 * concurrency) / webmMs) + concurrency)

    // The recordings: one each for the throughput rows (MP3, then OGG_OPUS), for each wait (MP3, then OGG_OPUS), and
    // the batch of the latency rows (WEBM, not made on any of them yet).
    const wanted = (name: string) => keys.includes(name)
    const forCalls = { from: 0, to: wanted('transcode-throughput') ? size.calls : 0 }
    const forWaits = { from: forCalls.to, to: forCalls.to + (wanted('transcode-wait') ? size.waits : 0) }
    const recordings: { id: string; path: string }[] = []
    for (let i = 0; i < Math.max(forWaits.to, wanted('transcode-p99') ? batch : 0); i++) {
      // The conversation prefix is the one a reused database is cleaned of.
      const conversation = `/api/v2/conversations/bench-ingest-transcode-${runId}-${i}/recordings`
      const { body: { id = '' } } = await api('POST', conversation, { name: 'bench call', media: 'audio', startTime: new Date().toISOString() })
      const recording = { id, path: `${conversation}/${id}` }
      await api('PUT', `${recording.path}/media`, bytes, 'audio/wav')
      recordings.push(recording)
    }
    // Each upload queued a waveform, made by ffmpeg too: done before anything is measured.
    await quiet()
    const calls = recordings.slice(forCalls.from, forCalls.to)
    const waitFor = recordings.slice(forWaits.from, forWaits.to)

    if (wanted('transcode-throughput')) {
      for (const format of ['MP3', 'OGG_OPUS'] as const) {
        const result: TranscodeResult = {
          key: 'transcode-throughput',
          label: `${format} throughput, ${callsOf(size.calls)}`,
          detail:
            `Seconds of audio made into ${format} per CPU second. Service: GET …?formatId=${format} of ${size.calls} recording${size.calls === 1 ? '' : 's'} holding the ` +
            `${callLabel} WAV (202 each), then one GET every 100 ms of the first not made yet until all answer 200; CPU of the server ` +
            'process and of the ffmpeg processes it waited for (utime + stime + cutime + cstime of /proc/<pid>/stat), its PostgreSQL ' +
            `backends excluded. Baseline: the same ffmpeg command line (transcodeArgs) on the same file ${size.calls === 1 ? 'once' : `${size.calls} times`} from the bench, ` +
            `${concurrency} at once as the service runs them, CPU of those processes (cutime + cstime of the bench).`,
          unit: 'audio s per CPU s',
          names: { measured: 'service', baseline: 'ffmpeg direct' },
          target: { atLeast: 0.9 },
        }
        results.push(result)
        try {
          await quiet()
          const before = cpuTimes(service.pid)
          for (const recording of calls) {
            const first = await ask(recording.path, format)
            if (first.status !== 202) throw new Error(`the first GET of ${format} answered ${first.status}, not 202`)
          }
          const made: Answer[] = []
          for (const recording of calls) made.push(await untilMade(recording.path, format, 100))
          const after = cpuTimes(service.pid)
          const serviceMs = after.own + after.children - before.own - before.children

          const output = (i: number) => path.join(work, `direct-${i}.${format}`)
          const self = cpuTimes('self').children
          const walls = await limited(concurrency, calls.map((_, i) => () => direct(format, output(i))))
          const directMs = cpuTimes('self').children - self

          const sizes = made.map((answer) => answer.body.outputSizeInBytes)
          const directSize = (await stat(output(0))).size
          result.check = sizes.every((n) => n === directSize)
            ? `the service's renditions have the size of the direct output (${directSize.toLocaleString('en-US')} bytes)`
            : `the service's renditions (${sizes.join(', ')} bytes) differ in size from the direct output (${directSize} bytes)`
          const total = size.callSeconds * calls.length
          // CPU times come in clock ticks: a short smoke call can take less than one, which would divide by zero.
          const tick = 1000 / CLK_TCK
          result.measured = total / (Math.max(serviceMs, tick) / 1000)
          result.baseline = total / (Math.max(directMs, tick) / 1000)
          result.samples = { measured: [serviceMs], baseline: [directMs] }
          const actual = made.map((answer) => answer.body.actualTranscodeTimeMs ?? NaN)
          result.note =
            `CPU ${seconds(serviceMs)} (server process ${seconds(after.own - before.own)}, ffmpeg ${seconds(after.children - before.children)}) vs ${seconds(directMs)}; ` +
            `ffmpeg wall per call: service ${seconds(median(actual))} (median actualTranscodeTimeMs), direct ${seconds(median(walls))} (median)`
          log(`bench: transcode ${result.label}: service ${result.measured.toFixed(0)}, direct ${result.baseline.toFixed(0)} audio s per CPU s (${result.note}); ${result.check}`)
        } catch (error) {
          result.unavailable = error instanceof Error ? error.message : String(error)
          log(`bench: transcode ${result.label}: not available (${result.unavailable})`)
        }
      }
    }

    if (wanted('transcode-wait')) {
      for (const format of ['MP3', 'OGG_OPUS'] as const) {
        const result: TranscodeResult = {
          key: 'transcode-wait',
          label: `${format}: first GET to 200, ${callLabel} call`,
          detail:
            `From the first GET …?formatId=${format} (202) of a recording holding the ${callLabel} WAV to its 200, asking again 100 ms after ` +
            `each 202, nothing else running; the baseline is the wall time of the same ffmpeg command run directly from the bench. ` +
            `Median of ${size.waits}, the two taking turns to go first. The difference is the queue, the polling and storing the rendition.`,
          unit: 'ms',
          names: { measured: 'first GET to 200', baseline: 'ffmpeg direct' },
        }
        results.push(result)
        try {
          const waits: number[] = []
          const walls: number[] = []
          const actual: number[] = []
          for (const [i, recording] of waitFor.entries()) {
            const viaService = async () => {
              await quiet()
              const started = performance.now()
              const first = await ask(recording.path, format)
              if (first.status !== 202) throw new Error(`the first GET of ${format} answered ${first.status}, not 202`)
              const made = await untilMade(recording.path, format, 100)
              waits.push(performance.now() - started)
              actual.push(made.body.actualTranscodeTimeMs ?? NaN)
            }
            const viaBench = async () => {
              walls.push(await direct(format, path.join(work, `wait.${format}`)))
            }
            for (const step of i % 2 === 0 ? [viaBench, viaService] : [viaService, viaBench]) await step()
          }
          result.measured = median(waits)
          result.baseline = median(walls)
          result.samples = { measured: waits, baseline: walls }
          result.note = `service's ffmpeg wall (actualTranscodeTimeMs) ${seconds(median(actual))}, so ${seconds(result.measured - median(actual))} of queue, polling and storage`
          log(`bench: transcode ${result.label}: ${seconds(result.measured)} vs ${seconds(result.baseline)} direct (${result.note})`)
        } catch (error) {
          result.unavailable = error instanceof Error ? error.message : String(error)
          log(`bench: transcode ${result.label}: not available (${result.unavailable})`)
        }
      }
    }

    if (wanted('transcode-p99')) {
      const paced = Math.min(10, settings.connections)
      const plan: Plan = { method: 'GET', paths: getPaths.map((p) => `${p}?formatId=NONE`) }
      const run = (connections: number, rate?: number) => drive(service, plan, { connections, seconds: settings.duration, backends: async () => undefined, ...(rate ? { rate } : {}) })
      const saturating: TranscodeResult = {
        key: 'transcode-p99',
        label: `get one: p99 under ${settings.connections} connections while transcoding`,
        detail:
          `GET …/recordings/{id}?formatId=NONE (metadata, no media) of ${getPaths.length.toLocaleString('en-US')} seeded recordings in turn, autocannon with ` +
          `${settings.connections} connections for ${settings.duration} s (as many requests as the server answers): while a batch of ${callsOf(batch)} ` +
          `is being made into WEBM (${concurrency} ffmpeg at once), against the same run on the idle service just before.`,
        unit: 'ms',
        names: { measured: 'p99 while transcoding', baseline: 'p99 idle' },
        target: { atMost: 1.5 },
      }
      const steady: TranscodeResult = {
        key: 'transcode-p99',
        label: `get one: p99 at a steady rate while transcoding`,
        detail:
          `The same requests at a fixed rate of a quarter of what the idle service answered under ${settings.connections} connections, over ` +
          `${paced} connections, for ${settings.duration} s: the latency of a busy but not saturated API while the batch is being made, against the same rate on the idle service.`,
        unit: 'ms',
        names: { measured: 'p99 while transcoding', baseline: 'p99 idle' },
        target: { atMost: 1.5 },
      }
      results.push(saturating, steady)
      try {
        await quiet()
        if (settings.warmup > 0) await drive(service, plan, { connections: settings.connections, seconds: settings.warmup, backends: async () => undefined })
        const idleFull = figures([await run(settings.connections)])
        const rate = Math.max(10, Math.round(idleFull.rps / 4))
        const idleSteady = figures([await run(paced, rate)])

        const ids = recordings.slice(0, batch)
        const started = performance.now()
        for (const recording of ids) {
          const first = await ask(recording.path, 'WEBM')
          if (first.status !== 202) throw new Error(`the first GET of WEBM answered ${first.status}, not 202`)
        }
        const busySteady = figures([await run(paced, rate)])
        const leftAfterSteady = await pending(ids.map((r) => r.id), 'WEBM')
        const busyFull = figures([await run(settings.connections)])
        const leftAfterFull = await pending(ids.map((r) => r.id), 'WEBM')
        for (const recording of ids) await untilMade(recording.path, 'WEBM', 250)
        const batchMs = performance.now() - started
        const still = (left: number) => left > 0
          ? `${left} of the ${batch} transcodes still waiting or running at the end of the window`
          : `**the batch was done before the window ended** (it took ${seconds(batchMs)} in all)`
        for (const [result, idle, busy, left] of [[saturating, idleFull, busyFull, leftAfterFull], [steady, idleSteady, busySteady, leftAfterSteady]] as const) {
          result.measured = busy.p99
          result.baseline = idle.p99
          result.check = still(left)
          result.note = `p50 ${busy.p50.toFixed(1)} vs ${idle.p50.toFixed(1)} ms; ${Math.round(busy.rps).toLocaleString('en-US')} vs ${Math.round(idle.rps).toLocaleString('en-US')} req/s` +
            `${busy.failed + idle.failed > 0 ? `; ${busy.failed} and ${idle.failed} failed` : ''}${result === steady ? ` (${rate} req/s asked)` : ''}`
          log(`bench: transcode ${result.label}: p99 ${busy.p99.toFixed(1)} vs ${idle.p99.toFixed(1)} ms idle (${result.note}); ${result.check}`)
        }
      } catch (error) {
        for (const result of [saturating, steady]) result.unavailable = error instanceof Error ? error.message : String(error)
        log(`bench: transcode latency: not available (${saturating.unavailable})`)
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  return results
}
