import { v7 as uuid7 } from 'uuid'
import type { FileState, Prisma, PrismaClient } from '../generated/prisma/client.js'
import { NotFoundError } from '../errors.js'
import type { Jobs } from '../plugins/jobs.js'
import type {
  BatchDownloadJobResult, BatchDownloadJobStatusResult, BatchDownloadJobSubmission, BatchDownloadJobSubmissionResult, BatchDownloadRequest,
} from '../schemas/batch-downloads.js'
import { STORED_RENDITION, type PlaybackUrls } from './media-urls.js'
import { isUuid } from './recording-key.js'

/** The job that resolves a submitted batch into its results; queued with the submission. */
export const RESOLVE_TASK = 'batchDownloads.resolve'
/** The hourly job that deletes batches older than KEEP_DAYS. */
export const EXPIRE_TASK = 'batchDownloads.expire'
/** Days a batch and its results are kept after submission. */
export const KEEP_DAYS = 7
const EXPIRE_BATCH_SIZE = 500

/** File states in which a recording's media cannot be fetched, and why, in the words of an errorMsg. */
const UNAVAILABLE: Partial<Record<FileState, string>> = {
  UPLOADING: 'The media of this recording is still being uploaded; submit it again once it is available.',
  ARCHIVED: 'The media of this recording is archived; restore it (a later archiveDate) before downloading it.',
  RESTORING: 'The media of this recording is being restored from the archive; submit it again once it is restored.',
  DELETED: 'The media of this recording was deleted.',
  ERROR: 'The media of this recording could not be stored (file state ERROR).',
}
const GONE = 'The media of this recording is no longer available: it was archived or deleted after the batch completed.'

const selfUri = (id: string) => `/api/v2/recording/batchrequests/${id}`

type ResultRow = Omit<Prisma.BatchDownloadResultCreateManyInput, 'batchId' | 'ordinal'>

/** The items as stored (written by `submit` only). */
function itemsOf(json: Prisma.JsonValue): BatchDownloadRequest[] {
  if (!Array.isArray(json)) throw new Error('batch download items are not an array')
  return json.map((item) => {
    const { conversationId, recordingId } = (item ?? {}) as Record<string, unknown>
    if (typeof conversationId !== 'string') throw new Error('batch download item without conversationId')
    return typeof recordingId === 'string' ? { conversationId, recordingId } : { conversationId }
  })
}

type Recording = {
  id: string
  conversationId: string
  fileState: FileState
  storedMedia: { storageKey: string; contentType: string; archivedAt: Date | null } | null
  mediaResults: { key: string; mediaUri: string | null }[]
}

/** The result of one recording: its stored original, else a linked mediaUri (rendition S first), else why not. */
function resultOf(recording: Recording): ResultRow {
  const base = { conversationId: recording.conversationId, recordingId: recording.id }
  const unavailable = UNAVAILABLE[recording.fileState]
  if (unavailable) return { ...base, errorMsg: unavailable }
  const stored = recording.storedMedia
  if (stored?.archivedAt === null) return { ...base, storageKey: stored.storageKey, contentType: stored.contentType }
  if (stored) return { ...base, errorMsg: UNAVAILABLE.ARCHIVED }
  const links = recording.mediaResults.filter((link) => link.mediaUri !== null)
  const link = links.find((candidate) => candidate.key === STORED_RENDITION) ?? links[0]
  if (link?.mediaUri) return { ...base, linkedUri: link.mediaUri }
  return { ...base, errorMsg: 'This recording has no media to download.' }
}

/**
 * Batch downloads (Genesys batchrequests): a client submits up to 100 conversations or recordings; a background job
 * resolves each into results, one per recording, in the recordings' original format. Only that client reads them.
 */
export function createBatchDownloadService({ prisma, playback, urlTtlMinutes }: {
  prisma: PrismaClient
  playback: Pick<PlaybackUrls, 'urlFor'>
  /** The organization's `recordingBatchDownloadUrlTtl`. */
  urlTtlMinutes: (organizationId: string) => Promise<number>
}) {
  return {
    /** Stores the batch and queues its resolution, in one transaction. */
    async submit(owner: { organizationId: string; clientId: string }, input: BatchDownloadJobSubmission): Promise<BatchDownloadJobSubmissionResult> {
      const id = uuid7()
      // Only the members this store reads: the bodies are open (clients may send more).
      const items = input.batchDownloadRequestList.map(({ conversationId, recordingId }) =>
        recordingId === undefined ? { conversationId } : { conversationId, recordingId })
      await prisma.$transaction(async (tx) => {
        await tx.batchDownload.create({ data: { id, organizationId: owner.organizationId, clientId: owner.clientId, items } })
        await tx.$executeRaw`SELECT graphile_worker.add_job(${RESOLVE_TASK}, json_build_object('batchId', ${id}::text), max_attempts => 25)`
      })
      return { id, selfUri: selfUri(id) }
    },

    /**
     * The batch's status and results, for the client that submitted it (anyone else: 404). URLs of stored media are
     * signed now, for the organization's batch download URL lifetime; media archived or deleted since is an error.
     */
    async status(owner: { organizationId: string; clientId: string }, jobId: string): Promise<BatchDownloadJobStatusResult> {
      const batch = isUuid(jobId)
        ? await prisma.batchDownload.findFirst({
          where: { id: jobId, organizationId: owner.organizationId, clientId: owner.clientId },
          include: { results: { orderBy: { ordinal: 'asc' } } },
        })
        : null
      if (!batch) throw new NotFoundError('Batch download request', jobId)
      const head = { id: batch.id, jobId: batch.id, selfUri: selfUri(batch.id) }
      if (batch.completedAt === null) {
        const expected = itemsOf(batch.items).length
        return { ...head, expectedResultCount: expected, resultCount: 0, errorCount: 0, status: 'InProgress', results: [] }
      }

      const keys = batch.results.flatMap((row) => (row.storageKey === null ? [] : [row.storageKey]))
      const playable = new Set(keys.length === 0 ? [] : (await prisma.storedMedia.findMany({
        where: { storageKey: { in: keys }, archivedAt: null, recording: { fileState: { notIn: ['UPLOADING', 'ARCHIVED', 'RESTORING'] } } },
        select: { storageKey: true },
      })).map((media) => media.storageKey))
      const ttl = keys.length === 0 ? 0 : await urlTtlMinutes(owner.organizationId)
      // One instant for every URL of the answer: they share their expiry.
      const now = Date.now()

      const results = await Promise.all(batch.results.map(async (row): Promise<BatchDownloadJobResult> => {
        const base = { conversationId: row.conversationId, ...(row.recordingId === null ? {} : { recordingId: row.recordingId }) }
        if (row.storageKey !== null && row.contentType !== null) {
          if (!playable.has(row.storageKey)) return { ...base, errorMsg: GONE }
          const { url } = await playback.urlFor({ rendition: STORED_RENDITION, storageKey: row.storageKey, contentType: row.contentType }, ttl, now)
          return { ...base, resultUrl: url, contentType: row.contentType }
        }
        if (row.linkedUri !== null) return { ...base, resultUrl: row.linkedUri }
        return { ...base, errorMsg: row.errorMsg ?? 'Nothing to download.' }
      }))
      const errorCount = results.filter((result) => result.errorMsg !== undefined).length
      return { ...head, expectedResultCount: results.length, resultCount: results.length, errorCount, status: 'Completed', results }
    },

    /**
     * Resolves a batch: every recording of each item's conversation in the organization (or only the one named), in
     * the order of the items, then oldest first. The results and the completion are one transaction under a lock on
     * the batch, so a retried or concurrent run finds it completed and does nothing; a deleted batch is no work.
     */
    async resolve(batchId: string): Promise<void> {
      await prisma.$transaction(async (tx) => {
        const locked = await tx.$queryRaw<{ completed: boolean }[]>`SELECT completed_at IS NOT NULL AS completed FROM batch_downloads WHERE id = ${batchId}::uuid FOR UPDATE`
        if (locked[0]?.completed !== false) return
        const batch = await tx.batchDownload.findUniqueOrThrow({ where: { id: batchId }, select: { organizationId: true, items: true } })
        const { organizationId } = batch
        const items = itemsOf(batch.items)

        const recordings: Recording[] = await tx.recording.findMany({
          where: { organizationId, conversationId: { in: [...new Set(items.map((item) => item.conversationId))] } },
          select: {
            id: true, conversationId: true, fileState: true,
            storedMedia: { select: { storageKey: true, contentType: true, archivedAt: true } },
            mediaResults: { select: { key: true, mediaUri: true }, orderBy: { key: 'asc' } },
          },
          orderBy: [{ creationTime: 'asc' }, { id: 'asc' }],
        })
        const byConversation = new Map<string, Recording[]>()
        for (const recording of recordings) {
          const list = byConversation.get(recording.conversationId)
          if (list) list.push(recording)
          else byConversation.set(recording.conversationId, [recording])
        }
        // Named recordings that are not in the conversation named with them: where they are instead, if anywhere.
        const missing = items.flatMap(({ conversationId, recordingId }) =>
          recordingId !== undefined && isUuid(recordingId) && !byConversation.get(conversationId)?.some((r) => r.id === recordingId) ? [recordingId] : [])
        const elsewhere = new Map(missing.length === 0 ? [] : (await tx.recording.findMany({
          where: { organizationId, id: { in: missing } }, select: { id: true, conversationId: true },
        })).map((recording) => [recording.id, recording.conversationId]))

        const rows = items.flatMap(({ conversationId, recordingId }): ResultRow[] => {
          const found = byConversation.get(conversationId) ?? []
          if (recordingId === undefined) {
            return found.length > 0 ? found.map(resultOf) : [{ conversationId, errorMsg: `No recordings of conversation ${conversationId} were found.` }]
          }
          const recording = found.find((r) => r.id === recordingId)
          if (recording) return [resultOf(recording)]
          const other = elsewhere.get(recordingId)
          const errorMsg = other === undefined
            ? `Recording ${recordingId} was not found.`
            : `Recording ${recordingId} is not a recording of conversation ${conversationId}.`
          return [{ conversationId, recordingId, errorMsg }]
        })
        await tx.batchDownloadResult.createMany({ data: rows.map((row, ordinal) => ({ ...row, batchId, ordinal })) })
        await tx.batchDownload.update({ where: { id: batchId }, data: { completedAt: new Date() } })
      }, { timeout: 60_000 })
    },

    /** Deletes the batches submitted before `before` with their results, a few hundred per transaction. */
    async removeExpired(before = new Date(Date.now() - KEEP_DAYS * 86_400_000)): Promise<number> {
      let removed = 0
      for (;;) {
        const deleted = await prisma.$executeRaw`DELETE FROM batch_downloads WHERE id IN (
          SELECT id FROM batch_downloads WHERE created_at < ${before} ORDER BY created_at LIMIT ${EXPIRE_BATCH_SIZE} FOR UPDATE SKIP LOCKED)`
        removed += deleted
        if (deleted < EXPIRE_BATCH_SIZE) return removed
      }
    },
  }
}

export type BatchDownloadService = ReturnType<typeof createBatchDownloadService>

/** The batch id of a job payload (written by `submit` only). */
function batchIdOf(payload: unknown): string {
  const value = (payload as Record<string, unknown> | null)?.batchId
  if (typeof value !== 'string' || !isUuid(value)) throw new Error(`job payload without batchId: ${JSON.stringify(payload)}`)
  return value
}

/** The jobs of batch downloads: resolving each submitted batch, and deleting batches after KEEP_DAYS (hourly). */
export function defineBatchDownloadTasks(app: {
  jobs: Pick<Jobs, 'define' | 'schedule'>
  services: { batchDownloads: BatchDownloadService }
  log: { child(bindings: object): { info(fields: object, message: string): void } }
}): void {
  const { batchDownloads } = app.services
  const log = app.log.child({ component: 'jobs' })
  app.jobs.define(RESOLVE_TASK, async (payload) => {
    const batchId = batchIdOf(payload)
    await batchDownloads.resolve(batchId)
    log.info({ batchId }, 'batch download resolved')
  })
  app.jobs.define(EXPIRE_TASK, async () => {
    const removed = await batchDownloads.removeExpired()
    if (removed > 0) log.info({ removed }, 'expired batch downloads removed')
  })
  app.jobs.schedule(EXPIRE_TASK, '41 * * * *')
}
