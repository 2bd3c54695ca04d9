import { setTimeout as sleep } from 'node:timers/promises'
import { Prisma, type PrismaClient } from '../generated/prisma/client.js'
import type { MediaService } from './media-service.js'

/** A recording the sweep deleted or archived, for its audit line. */
export interface SweptRecording {
  id: string
  organizationId: string
  conversationId: string
}

export interface SweepReport {
  deleted: number
  archived: number
  /** Recordings left as they were because their media could not be archived (retried by the next sweep). */
  failed: number
}

export interface SweepOptions {
  /** No batch starts after this time (ms since the epoch): the next sweep carries on. */
  until: number
  /** Called after each batch has committed. */
  onDeleted?: (recordings: SweptRecording[]) => void
  onArchived?: (recordings: SweptRecording[]) => void
  onArchiveFailed?: (recording: { id: string; storageKey: string }, error: unknown) => void
}

/** The job that sweeps; its job key keeps one queued for all instances. */
export const SWEEP_TASK = 'retention.sweep'

/**
 * Ahead of other jobs (graphile-worker runs lower numbers first): the removals of bytes that each batch queues would
 * otherwise hold back the next sweep until they have all run.
 */
export const SWEEP_PRIORITY = -1

/**
 * After each batch the sweep rests as long as the batch took: it takes at most half of one connection's time, so the
 * API keeps its latency while a large backlog (100,000 expired recordings) goes.
 */
export const REST_PER_BATCH_TIME = 1

/** Recordings (alias `r`) with an export still to do (a recording job's): neither deleted nor archived until it is done. */
const EXPORT_PENDING = Prisma.sql`(r.export_integration_id IS NOT NULL AND r.export_date IS NOT NULL AND r.exported_date IS NULL)`

/**
 * Hot recordings (alias `r`) due for the archive tier. Either side can use the (file_state, archive_date) index; few
 * recordings are RESTORED at a time. One whose export is pending waits for it: the export writes the hot bytes.
 */
const DUE_FOR_ARCHIVE = Prisma.sql`(((r.file_state IN ('AVAILABLE', 'RESTORED') AND r.archive_date <= now())
  OR (r.file_state = 'RESTORED' AND r.restore_expiration_time <= now())) AND NOT ${EXPORT_PENDING})`

/** Archive copies made at once. */
const COPIES_AT_ONCE = 8

/**
 * The retention sweep. Deleting is one statement per batch: the due recordings are locked with SKIP LOCKED (another
 * instance sweeping at the same time takes other rows, so each recording is deleted exactly once) and deleted in the
 * same transaction; their children cascade, and the delete of their stored_media rows queues the removal of the bytes
 * in that transaction (media_removal_jobs migration). So a sweep killed at any point leaves each recording untouched
 * or deleted with its byte removal queued.
 *
 * Archiving is in two steps, so that no crash can leave an ARCHIVED recording whose bytes are in neither tier: the
 * bytes are copied to the archive tier first (idempotent), then one statement marks the recordings ARCHIVED and their
 * media archived, which queues the removal of the hot copies (archive_tier migration). A crash in between leaves the
 * recording AVAILABLE with a copy in both tiers, and the next sweep finishes it; the archive copy of a recording
 * deleted in between is removed with its hot copy, or else by the reconciliation.
 */
export function createRetentionSweep({ prisma, media, batchSize }: { prisma: PrismaClient; media: MediaService; batchSize: number }) {
  /**
   * Deletes one batch of recordings past their deleteDate; answers them once committed. Recordings of protected
   * conversations wait (a trigger would refuse their delete, and with it the whole batch) until protection is lifted;
   * recordings with an export still to do (a recording job's, whose exportDate is at most the deleteDate) wait for it.
   */
  async function deleteBatch(): Promise<SweptRecording[]> {
    return prisma.$queryRaw<SweptRecording[]>`
      WITH due AS (
        SELECT r.id FROM recordings r
        WHERE r.delete_date <= now()
          AND NOT EXISTS (SELECT FROM protected_conversations p WHERE p.organization_id = r.organization_id AND p.conversation_id = r.conversation_id)
          AND NOT ${EXPORT_PENDING}
        ORDER BY r.delete_date
        LIMIT ${batchSize}
        FOR UPDATE OF r SKIP LOCKED)
      DELETE FROM recordings r WHERE r.id = ANY(ARRAY(SELECT id FROM due))
      RETURNING r.id::text AS id, r.organization_id::text AS "organizationId", r.conversation_id AS "conversationId"`
  }

  /**
   * Archives one batch of hot (AVAILABLE, RESTORED) recordings past their archiveDate, or restored ones past their
   * restoreExpirationTime, leaving out `skip` (their copy failed in this sweep) and those with an export to do. Answers
   * the recordings archived and those whose copy failed. A restored recording's archive copy is mostly still there, so
   * its copy costs a look.
   */
  async function archiveBatch(skip: string[], onFailed: SweepOptions['onArchiveFailed']): Promise<{ archived: SweptRecording[]; failed: string[]; selected: number }> {
    const due = await prisma.$queryRaw<{ id: string; storageKey: string | null }[]>`
      SELECT r.id::text AS id, m.storage_key AS "storageKey"
      FROM recordings r LEFT JOIN stored_media m ON m.recording_id = r.id AND m.archived_at IS NULL
      WHERE ${DUE_FOR_ARCHIVE} AND r.id <> ALL(${skip}::uuid[])
      LIMIT ${batchSize}`
    const failed: string[] = []
    const copied: string[] = due.filter((row) => row.storageKey === null).map((row) => row.id)
    const withBytes = due.filter((row): row is { id: string; storageKey: string } => row.storageKey !== null)
    for (let i = 0; i < withBytes.length; i += COPIES_AT_ONCE) {
      const slice = withBytes.slice(i, i + COPIES_AT_ONCE)
      const results = await Promise.allSettled(slice.map((row) => media.archive(row.storageKey)))
      results.forEach((result, index) => {
        const row = slice[index] as { id: string; storageKey: string }
        if (result.status === 'fulfilled') copied.push(row.id)
        else {
          failed.push(row.id)
          onFailed?.(row, result.reason)
        }
      })
    }
    if (copied.length === 0) return { archived: [], failed, selected: due.length }
    // Only what is still hot and due: a recording deleted, archived by another sweep, or given a later archiveDate
    // meanwhile is left as it is.
    const archived = await prisma.$queryRaw<SweptRecording[]>`
      WITH archived AS (
        UPDATE recordings r SET file_state = 'ARCHIVED', archive_medium = 'CLOUDARCHIVE', restore_expiration_time = NULL
        WHERE r.id = ANY(${copied}::uuid[]) AND ${DUE_FOR_ARCHIVE}
        RETURNING r.id, r.organization_id, r.conversation_id),
      moved AS (
        UPDATE stored_media m SET archived_at = now() FROM archived a WHERE m.recording_id = a.id AND m.archived_at IS NULL)
      SELECT id::text AS id, organization_id::text AS "organizationId", conversation_id AS "conversationId" FROM archived`
    return { archived, failed, selected: due.length }
  }

  const rest = (startedAt: number) => sleep((performance.now() - startedAt) * REST_PER_BATCH_TIME)

  return {
    /**
     * Deletes, then archives, batch after batch, until nothing is due or `until` has passed. Deleting comes first:
     * what is due for both is not worth archiving.
     */
    async sweep({ until, onDeleted, onArchived, onArchiveFailed }: SweepOptions): Promise<SweepReport> {
      const report: SweepReport = { deleted: 0, archived: 0, failed: 0 }
      while (Date.now() < until) {
        const startedAt = performance.now()
        const deleted = await deleteBatch()
        report.deleted += deleted.length
        if (deleted.length > 0) onDeleted?.(deleted)
        if (deleted.length < batchSize) break
        await rest(startedAt)
      }
      const failed: string[] = []
      while (Date.now() < until) {
        const startedAt = performance.now()
        const batch = await archiveBatch(failed, onArchiveFailed)
        report.archived += batch.archived.length
        if (batch.archived.length > 0) onArchived?.(batch.archived)
        failed.push(...batch.failed)
        if (batch.selected < batchSize) break
        await rest(startedAt)
      }
      report.failed = failed.length
      return report
    },

    /**
     * Queues the next sweep `afterSeconds` from now under the sweep's job key. `replace` moves a queued one to that
     * time; `preserve` keeps a queued one's time (and queues one only when none is). A sweep that is running does not
     * count as queued: a new one is queued beside it.
     */
    async queue(afterSeconds: number, mode: 'replace' | 'preserve'): Promise<void> {
      await prisma.$executeRaw`SELECT graphile_worker.add_job(${SWEEP_TASK}, run_at => now() + ${afterSeconds}::int * interval '1 second',
        job_key => ${SWEEP_TASK}, priority => ${SWEEP_PRIORITY}::int, job_key_mode => ${mode === 'replace' ? 'replace' : 'preserve_run_at'})`
    },
  }
}

export type RetentionSweep = ReturnType<typeof createRetentionSweep>
