import { createReadStream } from 'node:fs'
import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createWriteStream } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { v7 as uuid7 } from 'uuid'
import type { PrismaClient } from '../generated/prisma/client.js'
import type { MediaFormat } from '../schemas/recording.js'
import { mediaKey, type MediaStorage } from '../storage/media-storage.js'
import { createLimiter, MediaUnreadableError, RECIPES, transcode, waveform, type FfmpegOptions } from '../media/ffmpeg.js'
import { extensionOf } from './media-urls.js'

/** The job that makes a rendition, queued with its PENDING row. */
export const TRANSCODE_TASK = 'media.transcode'
/** Attempts at a rendition before it is marked FAILED (a failure of ffmpeg on the media fails it at once). */
const TRANSCODE_ATTEMPTS = 5
/** The longest a list of recordings waits for renditions (maxWaitMs), well under the SDK's 16 s request timeout. */
export const MAX_WAIT_MS = 10_000

export interface RenditionWanted {
  recordingId: string
  format: MediaFormat
}

const MAX_INT = 2 ** 31 - 1

/** Runs `work` on a local file holding the stored bytes: the stored file itself, or a temporary copy. */
async function withLocalFile<T>(storage: MediaStorage, key: string, scratch: string, work: (file: string) => Promise<T>): Promise<T> {
  if (storage.localPath) return work(storage.localPath(key))
  const copy = path.join(scratch, `${uuid7()}.${path.extname(key).slice(1) || 'bin'}`)
  try {
    await pipeline(await storage.read(key), createWriteStream(copy, { flags: 'wx' }))
    return await work(copy)
  } finally {
    await rm(copy, { force: true })
  }
}

/**
 * Renditions of stored media in the formats clients ask for, and waveforms: made by ffmpeg in jobs (at most
 * `concurrency` processes at once per instance, each within `timeoutMs`), kept in storage beside the original and
 * reused. Scratch files live in `scratch` (DATA_DIR/transcode) while ffmpeg works.
 */
export function createRenditionService({ prisma, storage, ffmpeg, timeoutMs, concurrency, scratch }: {
  prisma: PrismaClient
  storage: MediaStorage
  ffmpeg: string
  timeoutMs: number
  concurrency: number
  scratch: string
}) {
  const limited = createLimiter(concurrency)
  const options: FfmpegOptions = { ffmpeg, timeoutMs }
  const ready = mkdir(scratch, { recursive: true })

  async function fail(recordingId: string, format: string, error: string): Promise<void> {
    await prisma.$executeRaw`UPDATE renditions SET state = 'FAILED', error = ${error.slice(0, 1000)}, completed_at = now()
      WHERE recording_id = ${recordingId}::uuid AND format = ${format} AND state = 'PENDING'`
  }

  return {
    /**
     * Asks for renditions not made yet: each new one is a PENDING row and its job, inserted together (one statement),
     * so concurrent requests for one rendition start one transcode. Asking again for one that exists does nothing.
     */
    async request(wanted: RenditionWanted[]): Promise<void> {
      if (wanted.length === 0) return
      const ids = wanted.map((w) => w.recordingId)
      const formats = wanted.map((w) => w.format)
      await prisma.$queryRaw`WITH added AS (
          INSERT INTO renditions (recording_id, format)
          SELECT w.recording_id, w.format FROM unnest(${ids}::uuid[], ${formats}::text[]) AS w(recording_id, format)
          JOIN stored_media m ON m.recording_id = w.recording_id AND m.archived_at IS NULL
          ON CONFLICT DO NOTHING RETURNING recording_id, format)
        SELECT graphile_worker.add_job(${TRANSCODE_TASK}, json_build_object('recordingId', recording_id, 'format', format),
          max_attempts => ${TRANSCODE_ATTEMPTS}::int)::text FROM added`
    },

    /**
     * Waits until none of the renditions is PENDING any more, or `ms` have passed: polls the table, first often, then
     * less (any instance may be making them). Answers whether all are settled (made or failed).
     */
    async settle(wanted: RenditionWanted[], ms: number): Promise<boolean> {
      const ids = wanted.map((w) => w.recordingId)
      const formats = wanted.map((w) => w.format)
      const deadline = Date.now() + Math.min(ms, MAX_WAIT_MS)
      for (let pause = 25; ; pause = Math.min(pause * 2, 500)) {
        const [row] = await prisma.$queryRaw<{ pending: number }[]>`SELECT count(*)::int AS pending
          FROM unnest(${ids}::uuid[], ${formats}::text[]) AS w(recording_id, format)
          JOIN renditions r ON r.recording_id = w.recording_id AND r.format = w.format WHERE r.state = 'PENDING'`
        if ((row?.pending ?? 0) === 0) return true
        const left = deadline - Date.now()
        if (left <= 0) return false
        await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)))
      }
    },

    /**
     * Makes a PENDING rendition (the job's work): ffmpeg writes it to a scratch file, which is stored under a key of
     * its own and then marked READY. Done already, or its original gone or archived: nothing to do. ffmpeg failing
     * on the media (or at `lastAttempt`, anything) marks it FAILED with why; other failures throw, to be retried.
     */
    async make(recordingId: string, format: MediaFormat, { lastAttempt }: { lastAttempt: boolean }): Promise<'made' | 'failed' | 'none'> {
      const [original] = await prisma.$queryRaw<{ storage_key: string; content_type: string }[]>`
        SELECT m.storage_key, m.content_type FROM renditions r JOIN stored_media m USING (recording_id)
        WHERE r.recording_id = ${recordingId}::uuid AND r.format = ${format} AND r.state = 'PENDING' AND m.archived_at IS NULL`
      if (!original) return 'none'
      const video = original.content_type.startsWith('video/')
      const contentType = RECIPES[format].contentType(video)
      const [organizationId = ''] = original.storage_key.split('/')
      const key = mediaKey(organizationId, recordingId, `${uuid7()}.${extensionOf(contentType)}`)
      await ready
      const output = path.join(scratch, path.basename(key))
      let made: { transcodeMs: number; durationMs: number | undefined; size: number }
      try {
        made = await limited(async () => {
          const started = performance.now()
          const { durationMs } = await withLocalFile(storage, original.storage_key, scratch, (input) => transcode(input, output, format, video, options))
          const transcodeMs = Math.round(performance.now() - started)
          const { size } = await storage.write(key, createReadStream(output), { maxBytes: Number.MAX_SAFE_INTEGER })
          return { transcodeMs, durationMs, size }
        })
      } catch (error) {
        if (!(error instanceof MediaUnreadableError) && !lastAttempt) throw error
        await fail(recordingId, format, error instanceof Error ? error.message : String(error))
        return 'failed'
      } finally {
        await rm(output, { force: true })
      }
      const updated = await prisma.$executeRaw`UPDATE renditions SET state = 'READY', storage_key = ${key},
          content_type = ${contentType}, size_in_bytes = ${made.size}, duration_ms = ${made.durationMs ?? null}::int,
          transcode_ms = ${Math.min(made.transcodeMs, MAX_INT)}::int, completed_at = now()
        WHERE recording_id = ${recordingId}::uuid AND format = ${format} AND state = 'PENDING'`
      // Deleted (or archived) meanwhile: no row names the bytes.
      if (updated === 0) await storage.delete(key)
      return updated === 0 ? 'none' : 'made'
    },

    /** Computes and stores the waveform of stored media (the job its insert queued); media ffmpeg cannot read has none. */
    async computeWaveform(storageKey: string): Promise<number[] | undefined> {
      const [original] = await prisma.$queryRaw<{ storage_key: string }[]>`
        SELECT storage_key FROM stored_media WHERE storage_key = ${storageKey} AND archived_at IS NULL`
      if (!original) return undefined
      await ready
      let peaks: number[]
      try {
        peaks = await limited(() => withLocalFile(storage, storageKey, scratch, (input) => waveform(input, options)))
      } catch (error) {
        if (error instanceof MediaUnreadableError) return []
        throw error
      }
      // The waveform shows in every answer with the media: a new version of the recording (its ETags change).
      await prisma.$executeRaw`WITH drawn AS (
          UPDATE stored_media SET waveform_data = ${peaks}::float8[] WHERE storage_key = ${storageKey} RETURNING recording_id)
        UPDATE recordings r SET version = r.version FROM drawn WHERE r.id = drawn.recording_id`
      return peaks
    },

    /** Removes scratch files untouched since `before` (left by a crash mid-transcode); answers how many. */
    async removeAbandoned(before: Date): Promise<number> {
      await ready
      let removed = 0
      for (const name of await readdir(scratch).catch(() => [])) {
        const file = path.join(scratch, name)
        const found = await stat(file).catch(() => undefined)
        if (found && found.mtime < before) {
          await rm(file, { force: true })
          removed += 1
        }
      }
      return removed
    },
  }
}

export type RenditionService = ReturnType<typeof createRenditionService>
