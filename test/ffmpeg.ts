/** Real media for tests, made and inspected with the ffmpeg and ffprobe that npm installed. */
import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { ffmpegPath } from '../src/media/ffmpeg.js'

const run = promisify(execFile)
export const FFMPEG = ffmpegPath(undefined)
export const FFPROBE = (createRequire(import.meta.url)('@ffprobe-installer/ffprobe') as { path: string }).path

/** Runs `work` with a scratch directory that is removed afterwards. */
async function scratch<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ffmpeg-test-'))
  try {
    return await work(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * Media made by ffmpeg from its test sources: `seconds` of a 440 Hz tone (8 kHz, `channels`), encoded with `args`
 * into `extension`; `video` adds a moving test picture (160x120, 10 fps).
 */
export function makeMedia(seconds: number, extension: string, args: string[], { channels = 1, video = false } = {}): Promise<Buffer> {
  return scratch(async (dir) => {
    const out = path.join(dir, `media.${extension}`)
    const inputs = ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=8000:duration=${seconds}`]
    if (video) inputs.push('-f', 'lavfi', '-i', `testsrc=size=160x120:rate=10:duration=${seconds}`)
    await run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-y', ...inputs, '-ac', String(channels), ...args, out])
    return readFile(out)
  })
}

export interface Probed {
  /** ffprobe's format_name (`mp3`, `ogg`, `wav`, `matroska,webm`). */
  container: string
  audio?: { codec: string; sampleRate: number; channels: number }
  video?: { codec: string }
  /** Length of the decoded audio (or video) in ms, to 10 ms: what a player plays, encoder padding excluded. */
  decodedMs: number
}

/** What media is, by its container and streams (ffprobe), and how long it plays (decoded whole by ffmpeg). */
export function probe(bytes: Buffer): Promise<Probed> {
  return scratch(async (dir) => {
    const file = path.join(dir, 'probed')
    await writeFile(file, bytes)
    const { stdout } = await run(FFPROBE, ['-v', 'error', '-show_entries', 'format=format_name:stream=codec_type,codec_name,sample_rate,channels', '-of', 'json', file])
    const info = JSON.parse(stdout) as { format: { format_name: string }; streams: { codec_type: string; codec_name: string; sample_rate?: string; channels?: number }[] }
    const audio = info.streams.find((s) => s.codec_type === 'audio')
    const video = info.streams.find((s) => s.codec_type === 'video')
    const { stderr } = await run(FFMPEG, ['-hide_banner', '-nostdin', '-i', file, '-f', 'null', '-'])
    const times = [...stderr.matchAll(/time=(\d+):(\d+):(\d+(?:\.\d+)?)/g)].at(-1)
    const decodedMs = times ? Math.round((Number(times[1]) * 3600 + Number(times[2]) * 60 + Number(times[3])) * 1000) : Number.NaN
    return {
      container: info.format.format_name,
      ...(audio ? { audio: { codec: audio.codec_name, sampleRate: Number(audio.sample_rate), channels: audio.channels ?? 0 } } : {}),
      ...(video ? { video: { codec: video.codec_name } } : {}),
      decodedMs,
    }
  })
}

/** What ffprobe must find in each Genesys format: container and audio codec (and WAV_ULAW's 8 kHz). */
export const EXPECTED: Record<string, { container: string; codec: string; sampleRate?: number }> = {
  WAV: { container: 'wav', codec: 'pcm_s16le' },
  WAV_ULAW: { container: 'wav', codec: 'pcm_mulaw', sampleRate: 8000 },
  MP3: { container: 'mp3', codec: 'mp3' },
  OGG_VORBIS: { container: 'ogg', codec: 'vorbis' },
  OGG_OPUS: { container: 'ogg', codec: 'opus' },
  WEBM: { container: 'matroska,webm', codec: 'opus' },
}
