import type { FastifyInstance } from 'fastify'
import type { Config } from './config.js'
import { AUDIO_FORMATS, type MediaFormat } from './schemas/recording.js'
import { TRANSCODE_TASK } from './services/rendition-service.js'
import {
  createWebhookDelivery, DELIVER_TASK, DISPATCH_PENDING, DISPATCH_POLL_MS, DISPATCH_TASK, dispatchDeliveries, parseRetrySchedule, removeOldEvents,
} from './services/webhook-delivery.js'
import { createRetentionSweep, SWEEP_PRIORITY, SWEEP_TASK, type SweptRecording } from './services/retention-sweep.js'
import { defineBatchDownloadTasks } from './services/batch-download-service.js'
import { defineRecordingJobTasks } from './services/recording-job-service.js'

/** The text member `name` of a job payload (payloads are written by SQL and by this service only). */
function text(payload: unknown, name: string): string {
  const value = (payload as Record<string, unknown> | null)?.[name]
  if (typeof value !== 'string' || value === '') throw new Error(`job payload without ${name}: ${JSON.stringify(payload)}`)
  return value
}

const isMediaFormat = (value: string): value is MediaFormat => (AUDIO_FORMATS as readonly string[]).includes(value)

/** Every background task of the service, and when the periodic ones run. */
export function defineTasks(
  app: FastifyInstance,
  config: Pick<Config, 'MEDIA_RECONCILE_GRACE_MINUTES' | 'RETENTION_SWEEP_SECONDS' | 'RETENTION_BATCH_SIZE' | 'WEBHOOK_ALLOW_PRIVATE_TARGETS' | 'WEBHOOK_RETRY_SCHEDULE'>,
): void {
  const { media, uploads, renditions } = app.services
  const log = app.log.child({ component: 'jobs' })

  // Queued by the delete of a stored_media row (see the media_removal_jobs migration).
  app.jobs.define('media.remove', async (payload) => {
    const storageKey = text(payload, 'storageKey')
    await media.remove(storageKey)
    log.info({ storageKey }, 'stored media removed')
  })

  app.jobs.define('media.reconcile', async () => {
    const before = new Date(Date.now() - config.MEDIA_RECONCILE_GRACE_MINUTES * 60_000)
    const removed = await media.reconcile(before)
    const scratch = await renditions.removeAbandoned(before)
    log.info({ ...removed, scratch, before: before.toISOString() }, 'media storage reconciled')
  })

  // Queued with a PENDING rendition (a request for media in a format it is not made in yet).
  app.jobs.define(TRANSCODE_TASK, async (payload, { lastAttempt }) => {
    const [recordingId, format] = [text(payload, 'recordingId'), text(payload, 'format')]
    if (!isMediaFormat(format)) throw new Error(`job payload with an unknown format: ${JSON.stringify(payload)}`)
    const outcome = await renditions.make(recordingId, format, { lastAttempt })
    if (outcome === 'failed') log.warn({ recordingId, format }, 'rendition failed: see its error')
    else if (outcome === 'made') log.info({ recordingId, format }, 'rendition made')
  })

  // Deliveries are written by the changes they report without a job (see the webhook dispatch migrations); while some
  // wait, the dispatch (one at a time for the cluster) queues their delivery jobs.
  app.jobs.define(DISPATCH_TASK, async () => {
    const queued = await dispatchDeliveries(app.prisma)
    if (queued > 0) log.debug({ queued }, 'webhook deliveries queued')
  })
  app.jobs.queueWhile(DISPATCH_TASK, DISPATCH_PENDING, DISPATCH_POLL_MS)

  // Queued by the dispatch, one per subscription and subject, and again by itself for a retry.
  const webhooks = createWebhookDelivery({
    prisma: app.prisma,
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    schedule: parseRetrySchedule(config.WEBHOOK_RETRY_SCHEDULE),
  })
  app.jobs.define(DELIVER_TASK, async (payload) => {
    const [webhookId, subject] = [text(payload, 'webhookId'), text(payload, 'subject')]
    const { delivered, failed } = await webhooks.deliver(webhookId, subject)
    if (delivered + failed > 0) log.info({ webhookId, subject, delivered, failed }, 'webhook events delivered')
  })
  app.jobs.define('webhooks.expire', async () => {
    const removed = await removeOldEvents(app.prisma)
    if (removed > 0) log.info({ removed }, 'old webhook events removed')
  })
  app.jobs.schedule('webhooks.expire', '23 * * * *')

  // Queued by the insert of stored media (see the renditions migration).
  app.jobs.define('media.waveform', async (payload) => {
    const storageKey = text(payload, 'storageKey')
    const peaks = await renditions.computeWaveform(storageKey)
    log.info({ storageKey, points: peaks?.length }, peaks ? 'waveform computed' : 'media gone before its waveform')
  })
  app.jobs.schedule('media.reconcile', '17 * * * *')

  // Queued by the delete of a recording whose media was still uploading.
  app.jobs.define('uploads.remove', async (payload) => {
    const [organizationId, recordingId] = [text(payload, 'organizationId'), text(payload, 'recordingId')]
    await uploads.removeFor(organizationId, recordingId)
    log.info({ organizationId, recordingId }, 'unfinished uploads of a deleted recording removed')
  })

  app.jobs.define('uploads.expire', async () => {
    const removed = await uploads.removeExpired()
    if (removed > 0) log.info({ removed }, 'expired uploads removed')
  })
  app.jobs.schedule('uploads.expire', '*/15 * * * *')

  // Queued by the marking of stored media as archived (see the archive_tier migration). Under a lock on the row, and
  // only while it is still marked archived: media restored since (this job may run late) keeps its hot copy, and a
  // restore waits for this removal and then copies the bytes back.
  app.jobs.define('media.removeHot', async (payload) => {
    const storageKey = text(payload, 'storageKey')
    const removed = await app.prisma.$transaction(async (tx) => {
      const archived = await tx.$queryRaw<unknown[]>`SELECT FROM stored_media WHERE storage_key = ${storageKey} AND archived_at IS NOT NULL FOR SHARE`
      if (archived.length === 0) return false
      await media.removeHot(storageKey)
      return true
    }, { timeout: 60_000 })
    log.info({ storageKey }, removed ? 'hot copy of archived media removed' : 'media no longer archived: its hot copy stays')
  })

  // Queued with the restore of an archived recording (RESTORING). The bytes are copied back first, then the recording
  // is marked RESTORED and its media playable, in one transaction: a crash in between leaves it RESTORING with a hot
  // copy, and the retried job finds the copy there and marks it.
  app.jobs.define('media.restore', async (payload) => {
    const storageKey = text(payload, 'storageKey')
    const restoring = await app.prisma.$queryRaw<unknown[]>`SELECT FROM stored_media m JOIN recordings r ON r.id = m.recording_id
      WHERE m.storage_key = ${storageKey} AND r.file_state = 'RESTORING'`
    // Deleted, or restored by an earlier run of this job.
    if (restoring.length === 0) return
    await media.restore(storageKey)
    await app.prisma.$transaction(async (tx) => {
      // The lock orders this with a removal of the hot copy queued by the archiving: one that ran after the copy above
      // has removed it, so it is copied again (a no-op when it is there).
      await tx.$queryRaw`SELECT FROM stored_media WHERE storage_key = ${storageKey} FOR UPDATE`
      await media.restore(storageKey)
      await tx.$executeRaw`WITH restored AS (
          UPDATE recordings r SET file_state = 'RESTORED' FROM stored_media m
          WHERE m.storage_key = ${storageKey} AND r.id = m.recording_id AND r.file_state = 'RESTORING' RETURNING r.id)
        UPDATE stored_media m SET archived_at = NULL FROM restored WHERE m.recording_id = restored.id`
    }, { timeout: 60_000 })
    log.info({ storageKey }, 'archived media restored')
  })

  // The retention sweep is one job under a job key, which each run queues again RETENTION_SWEEP_SECONDS after its
  // start, before it works: cron cannot run more often than once a minute, and a chain of single jobs means one sweep
  // at a time for all instances, however long a sweep takes (each works at most that long, the next carries on). The
  // chain is started by every instance when it is ready and restored by cron each minute (keeping a queued sweep's
  // time), should a crash break it; a sweep killed midway is harmless, since each of its batches commits whole.
  const retention = createRetentionSweep({ prisma: app.prisma, media, batchSize: config.RETENTION_BATCH_SIZE })
  const audit = (action: string) => (recordings: SweptRecording[]) => {
    for (const { id, organizationId, conversationId } of recordings) {
      log.info({ audit: { action, organizationId, conversationId, recordingId: id } }, 'audit')
    }
  }
  app.jobs.define(SWEEP_TASK, async () => {
    await retention.queue(config.RETENTION_SWEEP_SECONDS, 'replace')
    // A failed sweep is not retried as a job: the next one is already queued and takes up what this one left.
    try {
      const report = await retention.sweep({
        until: Date.now() + config.RETENTION_SWEEP_SECONDS * 1000,
        onDeleted: audit('retention.delete'),
        onArchived: audit('retention.archive'),
        onArchiveFailed: ({ id, storageKey }, error) => log.error({ err: error, recordingId: id, storageKey }, 'media could not be archived; the recording stays as it is'),
      })
      if (report.deleted + report.archived + report.failed > 0) log.info(report, 'retention sweep done')
    } catch (error) {
      log.error({ err: error }, 'retention sweep failed; the next one carries on')
    }
  })
  app.jobs.schedule(SWEEP_TASK, '* * * * *', { jobKey: SWEEP_TASK, jobKeyMode: 'preserve_run_at', priority: SWEEP_PRIORITY })
  app.addHook('onReady', async () => {
    // Not awaited: a database that is away must not hold up readiness (cron restores the chain once it is back).
    retention.queue(0, 'preserve').catch((error: unknown) => log.warn({ err: error }, 'retention sweep not queued at start'))
  })

  defineBatchDownloadTasks(app)
  defineRecordingJobTasks(app)
}
