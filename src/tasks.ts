import type { FastifyInstance } from 'fastify'
import type { Config } from './config.js'

/** The text member `name` of a job payload (payloads are written by SQL and by this service only). */
function text(payload: unknown, name: string): string {
  const value = (payload as Record<string, unknown> | null)?.[name]
  if (typeof value !== 'string' || value === '') throw new Error(`job payload without ${name}: ${JSON.stringify(payload)}`)
  return value
}

/** Every background task of the service, and when the periodic ones run. */
export function defineTasks(app: FastifyInstance, config: Pick<Config, 'MEDIA_RECONCILE_GRACE_MINUTES'>): void {
  const { media, uploads } = app.services
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
    log.info({ ...removed, before: before.toISOString() }, 'media storage reconciled')
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
}
