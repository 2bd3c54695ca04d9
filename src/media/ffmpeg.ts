import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { setPriority } from 'node:os'
import type { MediaFormat } from '../schemas/recording.js'

// ffmpeg runs as a child process: transcodes and waveforms never take the event loop, and a process that hangs is
// killed at its time limit. One limiter per instance bounds how many run at once (TRANSCODE_CONCURRENCY).

/** The ffmpeg binary: FFMPEG_PATH, else the static build that `npm ci` installed with @ffmpeg-installer/ffmpeg. */
export function ffmpegPath(configured: string | undefined): string {
  if (configured) return configured
  const require = createRequire(import.meta.url)
  return (require('@ffmpeg-installer/ffmpeg') as { path: string }).path
}

/** ffmpeg ran and failed on the media (it cannot read it, or it ran out of time): the rendition fails, no retry. */
export class MediaUnreadableError extends Error {}

/** What each format is made with: the output's media type and ffmpeg's output options (after `-i <input>`). */
interface Recipe {
  contentType: (video: boolean) => string
  args: (video: boolean) => string[]
}

const OPUS = ['-c:a', 'libopus', '-b:a', '32k', '-compression_level', '5']
const audioOnly = (contentType: string, args: string[]): Recipe => ({ contentType: () => contentType, args: () => ['-vn', ...args] })

/**
 * The Genesys formats: WAV is 16-bit PCM, WAV_ULAW G.711 μ-law at 8 kHz, MP3 LAME VBR, OGG_VORBIS and OGG_OPUS those
 * codecs in Ogg, WEBM Opus audio (and VP8 video for screen recordings, encoded for speed). Channels and, but for
 * WAV_ULAW, the sample rate stay as recorded. Metadata of the original is not carried over.
 */
export const RECIPES: Record<MediaFormat, Recipe> = {
  WAV: audioOnly('audio/wav', ['-c:a', 'pcm_s16le', '-f', 'wav']),
  WAV_ULAW: audioOnly('audio/wav', ['-ar', '8000', '-c:a', 'pcm_mulaw', '-f', 'wav']),
  MP3: audioOnly('audio/mpeg', ['-c:a', 'libmp3lame', '-q:a', '5', '-f', 'mp3']),
  OGG_VORBIS: audioOnly('audio/ogg', ['-c:a', 'libvorbis', '-q:a', '3', '-f', 'ogg']),
  OGG_OPUS: audioOnly('audio/ogg', [...OPUS, '-f', 'ogg']),
  WEBM: {
    contentType: (video) => (video ? 'video/webm' : 'audio/webm'),
    args: (video) => video
      ? ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '1M', ...OPUS, '-f', 'webm']
      : ['-vn', ...OPUS, '-f', 'webm'],
  },
}

/**
 * The ffmpeg command line that makes `format` from `input` into `output` (what the benchmark also runs directly). Its
 * progress report on stdout ends with the length of what it wrote (`out_time_ms`, in microseconds): the length a player
 * plays, which a container's own figures can overstate (MP3 encoder padding).
 */
export const transcodeArgs = (input: string, output: string, format: MediaFormat, video: boolean) =>
  ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-i', input, '-map_metadata', '-1', ...RECIPES[format].args(video),
    '-progress', 'pipe:1', output]

/** Makes `format` from `input` into `output`; answers the length of the output in ms, when ffmpeg reported it. */
export async function transcode(input: string, output: string, format: MediaFormat, video: boolean, options: FfmpegOptions): Promise<{ durationMs?: number }> {
  let report = ''
  await runFfmpeg(transcodeArgs(input, output, format, video), {
    ...options,
    input,
    onStdout: (chunk) => {
      report = (report + chunk.toString('latin1')).slice(-2048)
    },
  })
  const written = [...report.matchAll(/out_time_ms=(\d+)/g)].at(-1)?.[1]
  return written === undefined ? {} : { durationMs: Math.round(Number(written) / 1000) }
}

/**
 * The Genesys format of media, from its container and codec as music-metadata reports them; undefined for any other
 * (a WAV of another sample format, AAC in MP4, ...).
 */
export function formatOf({ container = '', codec = '', bitsPerSample }: { container?: string | undefined; codec?: string | undefined; bitsPerSample?: number | undefined }): MediaFormat | undefined {
  const [box, code] = [container.toLowerCase(), codec.toLowerCase()]
  if (box === 'wave') {
    if (code === 'pcm' && bitsPerSample === 16) return 'WAV'
    if (code === 'mulaw') return 'WAV_ULAW'
    return undefined
  }
  if (box === 'mpeg' && code.includes('layer 3')) return 'MP3'
  if (box === 'ogg') return code.startsWith('vorbis') ? 'OGG_VORBIS' : code === 'opus' ? 'OGG_OPUS' : undefined
  if (box === 'ebml/webm') return 'WEBM'
  return undefined
}

/** At most `limit` tasks at once; the others wait, first come first served. */
export function createLimiter(limit: number) {
  let running = 0
  const waiting: (() => void)[] = []
  return async function limited<T>(task: () => Promise<T>): Promise<T> {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve))
    else running += 1
    try {
      return await task()
    } finally {
      const next = waiting.shift()
      // The slot passes to the next task, or is freed.
      if (next) next()
      else running -= 1
    }
  }
}

/** The niceness ffmpeg runs at (0 is the service's own, 19 the lowest priority). */
const FFMPEG_NICENESS = 10

export interface FfmpegOptions {
  ffmpeg: string
  timeoutMs: number
}

/**
 * Runs ffmpeg with `args`; stdout goes to `onStdout` when given. Resolves when it exits 0. A non-zero exit or the time
 * limit is MediaUnreadableError with ffmpeg's own last words (`input` replaced by "the media": no paths leave here);
 * a binary that cannot be started is a plain error (an instance's fault, worth a retry elsewhere).
 */
export function runFfmpeg(args: string[], { ffmpeg, timeoutMs, input, onStdout }: FfmpegOptions & { input: string; onStdout?: (chunk: Buffer) => void }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: ['ignore', onStdout ? 'pipe' : 'ignore', 'pipe'] })
    // Below the API and PostgreSQL in the scheduler: a transcode takes the CPU they leave, not their latency.
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, FFMPEG_NICENESS)
      } catch {
        // Not allowed here (some containers): it runs at the service's priority.
      }
    }
    let stderr = ''
    let timedOut = false
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      // The end is what explains a failure; a runaway log is cut.
      stderr = (stderr + text).slice(-4096)
    })
    if (onStdout) child.stdout?.on('data', onStdout)
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) return resolve()
      if (timedOut) return reject(new MediaUnreadableError(`ffmpeg took longer than the limit of ${timeoutMs} ms (TRANSCODE_TIMEOUT_MS)`))
      const said = stderr.split(input).join('the media').trim().split('\n').filter(Boolean).slice(-2).join('; ')
      reject(new MediaUnreadableError(said ? `ffmpeg could not read the media: ${said}` : `ffmpeg failed (${signal ?? `exit code ${code}`})`))
    })
  })
}

/** Peaks drawn per waveform: at most this many values, each covering an equal stretch of the media. */
export const WAVEFORM_POINTS = 1000
/** The decoded audio is mixed down to one channel at this rate; a peak is kept per 10 ms of it. */
const WAVEFORM_RATE = 8000
const WINDOW = WAVEFORM_RATE / 100

/**
 * The waveform of media: up to WAVEFORM_POINTS peak amplitudes of its audio mixed down to one channel, each in 0..1
 * of full scale (three decimals), in time order. Media without audio has none ([]). ffmpeg decodes; the peaks are
 * taken from its output as it streams (10 ms windows, then grouped into at most WAVEFORM_POINTS).
 */
export async function waveform(input: string, options: FfmpegOptions): Promise<number[]> {
  const windows: number[] = []
  let peak = 0
  let inWindow = 0
  let carry: Buffer | undefined
  const onStdout = (chunk: Buffer) => {
    const bytes = carry ? Buffer.concat([carry, chunk]) : chunk
    const whole = bytes.length - (bytes.length % 2)
    carry = whole < bytes.length ? bytes.subarray(whole) : undefined
    for (let offset = 0; offset < whole; offset += 2) {
      const sample = Math.abs(bytes.readInt16LE(offset))
      if (sample > peak) peak = sample
      if (++inWindow === WINDOW) {
        windows.push(peak)
        peak = 0
        inWindow = 0
      }
    }
  }
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', input, '-vn', '-ac', '1', '-ar', String(WAVEFORM_RATE), '-f', 's16le', '-c:a', 'pcm_s16le', 'pipe:1']
  try {
    await runFfmpeg(args, { ...options, input, onStdout })
  } catch (error) {
    // No audio stream: no waveform, and nothing wrong.
    if (error instanceof MediaUnreadableError && /matches no streams|does not contain any stream|Output file #0 does not contain/i.test(error.message)) return []
    throw error
  }
  if (inWindow > 0) windows.push(peak)
  const group = Math.max(1, Math.ceil(windows.length / WAVEFORM_POINTS))
  const points: number[] = []
  for (let start = 0; start < windows.length; start += group) {
    let max = 0
    for (let i = start; i < Math.min(windows.length, start + group); i++) max = Math.max(max, windows[i] ?? 0)
    points.push(Math.min(1, Math.round((max / 32767) * 1000) / 1000))
  }
  return points
}
