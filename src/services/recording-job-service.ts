import { performance } from 'node:perf_hooks'
import { setTimeout } from 'node:timers/promises'
import { v7 as uuid7 } from 'uuid'
import { Prisma, type PrismaClient, type RecordingJob as RecordingJobRow } from '../generated/prisma/client.js'
import { ConflictError, ForbiddenError, InvalidRequestError, NotFoundError } from '../errors.js'
import type { Jobs } from '../plugins/jobs.js'
import type {
  AsyncConversationQuery, DetailQueryFilter, ExecuteRecordingJobsQuery, FailedRecordingEntityListing, FailedRecordingsQuery,
  RecordingJob, RecordingJobEntityListing, RecordingJobListQuery, RecordingJobsQuery,
} from '../schemas/recording-jobs.js'
import type { MediaStorage } from '../storage/media-storage.js'
import type { CursorCodec } from './cursor.js'
import { notProtected } from './deletion-protection-service.js'
import { exportWriter, type ExportTargets, type ExportWriter, type S3ClientSettings } from './export-targets.js'
import { extensionOf } from './media-urls.js'
import { pageLinks } from './paging.js'
import { isUuid } from './recording-key.js'
import { selectRecording } from './recording-sql.js'
import { REST_PER_BATCH_TIME } from './retention-sweep.js'

/** The job that collects a new job's recordings (PENDING -> READY); queued with the job. */
export const COLLECT_TASK = 'recordingJobs.collect'
/** One batch of an executing job; each queues the next, under one job key per recording job. */
export const PROCESS_TASK = 'recordingJobs.process'
/** Exports the recordings whose exportDate has passed (every minute). */
export const EXPORT_TASK = 'recordings.export'
/** Genesys allows at most this many jobs of an organization PENDING or PROCESSING at once. */
export const MAX_ACTIVE_JOBS = 2
/** Recordings exported per transaction (their rows stay locked while their files are written). */
const EXPORT_BATCH_SIZE = 20

const BASE = '/api/v2/recording/jobs'
const selfUri = (id: string) => `${BASE}/${id}`

type Owner = { organizationId: string; clientId: string }

/** Genesys segment media types, and this store's own media names, as Recording.media values. */
const MEDIA_TYPES: Record<string, string> = {
  voice: 'audio', audio: 'audio', chat: 'chat', email: 'email', message: 'messaging', messaging: 'messaging',
  screenshare: 'screen', screen: 'screen',
}

/** `start/end` of an ISO-8601 interval of two instants; anything else is a 400 naming `field`. */
function parseInterval(text: string, field: string): { start: Date; end: Date } {
  const [from, to, extra] = text.split('/')
  const start = new Date(from ?? '')
  const end = new Date(to ?? '')
  if (extra !== undefined || Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || !from?.includes('T') || !to?.includes('T')) {
    throw new InvalidRequestError(`${field} must be an ISO-8601 interval of two instants, start/end`, field)
  }
  if (end <= start) throw new InvalidRequestError(`${field} ends before it starts`, field)
  return { start, end }
}

/** One predicate as SQL over the recording `r`; what this store cannot evaluate is a 400 naming it. */
function predicateSql(predicate: { type?: string | undefined; dimension?: string | undefined; operator?: string | undefined; value?: string | undefined }, field: string): Prisma.Sql {
  if ((predicate.type ?? 'dimension') !== 'dimension') throw new InvalidRequestError(`${field}: only dimension predicates are supported`, field)
  if ((predicate.operator ?? 'matches') !== 'matches') throw new InvalidRequestError(`${field}: only the operator matches is supported`, field)
  const value = predicate.value
  if (value === undefined || value === '') throw new InvalidRequestError(`${field}: a value is required`, field)
  switch (predicate.dimension) {
    case 'conversationId':
      return Prisma.sql`r.conversation_id = ${value}`
    case 'mediaType': {
      const media = MEDIA_TYPES[value]
      if (media === undefined) throw new InvalidRequestError(`${field}: mediaType ${value} is not one of ${Object.keys(MEDIA_TYPES).join(', ')}`, field)
      return Prisma.sql`r.media = ${media}`
    }
    case 'userId':
      return Prisma.sql`EXISTS (SELECT FROM recording_users u WHERE u.recording_id = r.id AND u.user_id = ${value})`
    default:
      throw new InvalidRequestError(`${field}: dimension ${String(predicate.dimension)} is not supported (conversationId, mediaType, userId)`, field)
  }
}

const combine = (type: 'and' | 'or', parts: Prisma.Sql[]) =>
  parts.length === 0 ? Prisma.sql`TRUE` : Prisma.sql`(${Prisma.join(parts, type === 'and' ? ' AND ' : ' OR ')})`

function filterSql(filter: DetailQueryFilter, field: string): Prisma.Sql {
  const predicates = (filter.predicates ?? []).map((p, i) => predicateSql(p, `${field}.predicates[${i}]`))
  const clauses = (filter.clauses ?? []).map((clause, i) =>
    combine(clause.type, clause.predicates.map((p, j) => predicateSql(p, `${field}.clauses[${i}].predicates[${j}]`))))
  return combine(filter.type, [...predicates, ...clauses])
}

/** What a job selects, checked: the interval, the filters as SQL, and the recording kinds left out. */
interface Selection {
  start: Date
  end: Date
  filters: Prisma.Sql
  limit: number | undefined
  includeScreen: boolean
  includeSnippet: boolean
}

function selectionOf(query: RecordingJobsQuery): Selection {
  const conversationQuery: Partial<AsyncConversationQuery> = query.conversationQuery ?? {}
  const interval = query.conversationQuery?.interval ?? query.agedConversationInterval
  if (interval === undefined) throw new InvalidRequestError('conversationQuery (with its interval) or agedConversationInterval is required', 'conversationQuery')
  if (query.conversationQuery !== undefined && query.agedConversationInterval !== undefined) {
    throw new InvalidRequestError('conversationQuery and agedConversationInterval exclude each other', 'agedConversationInterval')
  }
  const field = query.conversationQuery ? 'conversationQuery.interval' : 'agedConversationInterval'
  const filters = [
    ...(conversationQuery.conversationFilters ?? []).map((f, i) => filterSql(f, `conversationQuery.conversationFilters[${i}]`)),
    ...(conversationQuery.segmentFilters ?? []).map((f, i) => filterSql(f, `conversationQuery.segmentFilters[${i}]`)),
  ]
  return {
    ...parseInterval(interval, field),
    filters: combine('and', filters),
    limit: conversationQuery.limit,
    includeScreen: query.includeScreenRecordings ?? true,
    includeSnippet: query.includeSnippetRecordings ?? true,
  }
}

/** The rules of a RecordingJobsQuery that its schema cannot state; answers the query as stored (known members only). */
function checked(query: RecordingJobsQuery, targets: ExportTargets): RecordingJobsQuery {
  const has = (value: unknown) => value !== undefined
  if (has(query.actionDate) === has(query.actionAge)) throw new InvalidRequestError('Give exactly one of actionDate and actionAge', 'actionDate')
  if (has(query.screenRecordingActionDate) && has(query.screenRecordingActionAge)) {
    throw new InvalidRequestError('Give at most one of screenRecordingActionDate and screenRecordingActionAge', 'screenRecordingActionDate')
  }
  if ((has(query.screenRecordingActionDate) || has(query.screenRecordingActionAge)) && query.includeScreenRecordings === false) {
    throw new InvalidRequestError('A screen recording date or age needs includeScreenRecordings', 'includeScreenRecordings')
  }
  if (query.action === 'EXPORT') {
    if (query.integrationId === undefined) throw new InvalidRequestError('An EXPORT job needs an integrationId (an export target)', 'integrationId')
    if (!targets.has(query.integrationId)) {
      const known = [...targets.keys()]
      throw new InvalidRequestError(`integrationId ${query.integrationId} is not an export target of this store${known.length > 0 ? ` (${known.join(', ')})` : ' (none are configured)'}`, 'integrationId')
    }
  } else if (query.integrationId !== undefined) {
    throw new InvalidRequestError('integrationId is only for EXPORT jobs', 'integrationId')
  }
  if (query.clearExport === true && query.action !== 'DELETE') throw new InvalidRequestError('clearExport is only for DELETE jobs', 'clearExport')
  selectionOf(query)
  const known: (keyof RecordingJobsQuery)[] = [
    'action', 'actionDate', 'actionAge', 'screenRecordingActionDate', 'screenRecordingActionAge', 'integrationId',
    'includeRecordingsWithSensitiveData', 'includeScreenRecordings', 'includePolicyBasedRecordings', 'includeSnippetRecordings',
    'clearExport', 'conversationQuery', 'agedConversationInterval',
  ]
  return Object.fromEntries(known.filter((key) => query[key] !== undefined).map((key) => [key, query[key]])) as RecordingJobsQuery
}

/** The stored query (written by `create` only). */
const queryOf = (json: Prisma.JsonValue) => json as unknown as RecordingJobsQuery

function toRecordingJob(row: RecordingJobRow): RecordingJob {
  const total = row.totalRecordings
  const done = row.processed + row.skipped + row.failed
  const percent = row.state === 'FULFILLED' ? 100 : total ? Math.min(100, Math.floor((done * 100) / total)) : 0
  return {
    id: row.id,
    user: { id: row.clientId, selfUri: `/api/v2/oauth/clients/${encodeURIComponent(row.clientId)}` },
    state: row.state,
    recordingJobsQuery: queryOf(row.query),
    dateCreated: row.createdAt.toISOString(),
    ...(total === null ? {} : { totalConversations: row.totalConversations ?? 0, totalRecordings: total }),
    totalSkippedRecordings: row.skipped,
    totalFailedRecordings: row.failed,
    totalProcessedRecordings: row.processed,
    percentProgress: percent,
    ...(row.errorMessage === null ? {} : { errorMessage: row.errorMessage }),
    failedRecordings: `${selfUri(row.id)}/failedrecordings`,
    selfUri: selfUri(row.id),
  }
}

/** Cursor-mode links: self, and next (carrying the cursor) unless this is the last page. */
function cursorLinks(path: string, filters: Record<string, string | number | boolean | undefined>, pageSize: number, cursor: string | undefined, next: string | undefined) {
  const uri = (at: string | undefined) => {
    const params = new URLSearchParams()
    for (const [name, value] of Object.entries(filters)) if (value !== undefined) params.set(name, String(value))
    params.set('includeTotal', 'false')
    params.set('pageSize', String(pageSize))
    if (at !== undefined) params.set('cursor', at)
    return `${path}?${params.toString()}`
  }
  return { pageSize, firstUri: uri(undefined), selfUri: uri(cursor), ...(next === undefined ? {} : { nextUri: uri(next) }) }
}

/**
 * Queues the next batch of a job, `restMs` from now. The worker that ran the batch rests as long and then finds it due
 * (graphile-worker looks for the next job as soon as one ends), so the batches of a job leave the database that much
 * time to the API, as the retention sweep does (REST_PER_BATCH_TIME); were that worker to die meanwhile, another takes
 * the batch at its next poll.
 */
const addProcessJob = (tx: Prisma.TransactionClient, jobId: string, restMs = 0) =>
  tx.$executeRaw`SELECT graphile_worker.add_job(${PROCESS_TASK}, json_build_object('jobId', ${jobId}::text),
    run_at => clock_timestamp() + ${restMs}::int * interval '1 millisecond', job_key => ${`${PROCESS_TASK}:${jobId}`}, max_attempts => 25)`

/** Serializes the "at most two active jobs" check of an organization (creates and executions). */
const lockOrganizationJobs = (tx: Prisma.TransactionClient, organizationId: string) =>
  tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`recording_jobs:${organizationId}`}, 0))`

async function assertRoomForActiveJob(tx: Prisma.TransactionClient, organizationId: string): Promise<void> {
  const active = await tx.recordingJob.count({ where: { organizationId, state: { in: ['PENDING', 'PROCESSING'] } } })
  if (active >= MAX_ACTIVE_JOBS) {
    throw new ConflictError(`At most ${MAX_ACTIVE_JOBS} recording jobs of an organization may be PENDING or PROCESSING at once; wait for one to finish, or cancel one`)
  }
}

/** The date a job sets on recording `r`: the screen variant for screen recordings when given, else the general one. */
function actionDateSql(query: RecordingJobsQuery): Prisma.Sql {
  const general = Prisma.sql`coalesce(${query.actionDate ?? null}::timestamptz, r.creation_time + ${query.actionAge ?? null}::int * interval '1 day')`
  if (query.screenRecordingActionDate === undefined && query.screenRecordingActionAge === undefined) return general
  const screen = Prisma.sql`coalesce(${query.screenRecordingActionDate ?? null}::timestamptz, r.creation_time + ${query.screenRecordingActionAge ?? null}::int * interval '1 day')`
  return Prisma.sql`CASE WHEN r.media_subtype = 'Screen' OR r.media = 'screen' THEN ${screen} ELSE ${general} END`
}

const DELETED_SINCE = 'The recording was deleted before the job reached it.'

export interface RecordingJobServiceOptions {
  prisma: PrismaClient
  cursors: CursorCodec
  storage: MediaStorage
  exportTargets: ExportTargets
  s3: S3ClientSettings
  /** Recordings per batch of an executing job (one transaction each). */
  batchSize: number
}

/**
 * Recording bulk jobs (Genesys /api/v2/recording/jobs): a job selects recordings by a conversation query and sets
 * their deleteDate, archiveDate or exportDate; the retention sweep deletes and archives on those dates, and the export
 * job (exportDue) writes recordings whose exportDate has passed to the job's export target.
 */
export function createRecordingJobService({ prisma, cursors, storage, exportTargets, s3, batchSize }: RecordingJobServiceOptions) {
  async function find(organizationId: string, jobId: string): Promise<RecordingJobRow> {
    const row = isUuid(jobId) ? await prisma.recordingJob.findFirst({ where: { id: jobId, organizationId } }) : null
    if (!row) throw new NotFoundError('Recording job', jobId)
    return row
  }

  const writers = new Map<string, Promise<ExportWriter>>()
  function writerFor(integrationId: string): Promise<ExportWriter> {
    const target = exportTargets.get(integrationId)
    if (!target) return Promise.reject(new Error(`export target ${integrationId} is not configured (EXPORT_TARGETS)`))
    let writer = writers.get(integrationId)
    if (!writer) {
      writer = exportWriter(target, s3)
      // A writer that could not be made is tried again by the next export.
      void writer.catch(() => writers.delete(integrationId))
      writers.set(integrationId, writer)
    }
    return writer
  }

  return {
    /** Stores a PENDING job and queues the collection of its recordings, in one transaction. */
    async create(owner: Owner, input: RecordingJobsQuery): Promise<RecordingJob> {
      const query = checked(input, exportTargets)
      const id = uuid7()
      const row = await prisma.$transaction(async (tx) => {
        await lockOrganizationJobs(tx, owner.organizationId)
        await assertRoomForActiveJob(tx, owner.organizationId)
        const created = await tx.recordingJob.create({
          data: { id, organizationId: owner.organizationId, clientId: owner.clientId, action: query.action, query: query as Prisma.InputJsonObject },
        })
        await tx.$executeRaw`SELECT graphile_worker.add_job(${COLLECT_TASK}, json_build_object('jobId', ${id}::text), max_attempts => 25)`
        return created
      })
      return toRecordingJob(row)
    },

    async get(organizationId: string, jobId: string): Promise<RecordingJob> {
      return toRecordingJob(await find(organizationId, jobId))
    },

    /** Executes a READY job (only its creator may): PROCESSING, with its first batch queued. */
    async execute(owner: Owner, jobId: string, _input: ExecuteRecordingJobsQuery): Promise<RecordingJob> {
      const row = await prisma.$transaction(async (tx) => {
        await lockOrganizationJobs(tx, owner.organizationId)
        const [locked] = await tx.$queryRaw<{ id: string }[]>`SELECT id::text FROM recording_jobs
          WHERE id = ${isUuid(jobId) ? jobId : null}::uuid AND organization_id = ${owner.organizationId}::uuid FOR UPDATE`
        if (!locked) throw new NotFoundError('Recording job', jobId)
        const job = await tx.recordingJob.findUniqueOrThrow({ where: { id: locked.id } })
        if (job.clientId !== owner.clientId) throw new ForbiddenError('Only the client that created a recording job may execute it')
        if (job.state !== 'READY') throw new ConflictError(`Recording job ${jobId} is ${job.state}: only a READY job can be executed`)
        await assertRoomForActiveJob(tx, owner.organizationId)
        const updated = await tx.recordingJob.update({ where: { id: job.id }, data: { state: 'PROCESSING' } })
        await addProcessJob(tx, job.id)
        return updated
      })
      return toRecordingJob(row)
    },

    /**
     * Stops a job that is not finished (CANCELLED, kept to be read; the dates set so far stay) or removes a finished
     * one. Its recordings still to process are forgotten with it.
     */
    async cancel(organizationId: string, jobId: string): Promise<void> {
      await prisma.$transaction(async (tx) => {
        const [job] = await tx.$queryRaw<{ id: string; state: string }[]>`SELECT id::text, state::text FROM recording_jobs
          WHERE id = ${isUuid(jobId) ? jobId : null}::uuid AND organization_id = ${organizationId}::uuid FOR UPDATE`
        if (!job) throw new NotFoundError('Recording job', jobId)
        if (['PENDING', 'READY', 'PROCESSING'].includes(job.state)) {
          await tx.recordingJob.update({ where: { id: job.id }, data: { state: 'CANCELLED', completedAt: new Date() } })
          await tx.recordingJobItem.deleteMany({ where: { jobId: job.id } })
        } else {
          await tx.recordingJob.delete({ where: { id: job.id } })
        }
      }, { timeout: 60_000 })
    },

    async list(owner: Owner, query: RecordingJobListQuery): Promise<RecordingJobEntityListing> {
      const { pageSize = 25, pageNumber = 1, sortBy = 'userId', state, jobType, showOnlyMyJobs } = query
      const where: Prisma.RecordingJobWhereInput = {
        organizationId: owner.organizationId,
        ...(state === undefined ? {} : { state }),
        ...(jobType === undefined ? {} : { action: jobType }),
        ...(showOnlyMyJobs === true ? { clientId: owner.clientId } : {}),
      }
      const orderBy: Prisma.RecordingJobOrderByWithRelationInput[] = sortBy === 'userId'
        ? [{ clientId: 'asc' }, { createdAt: 'desc' }, { id: 'desc' }]
        : [{ createdAt: 'desc' }, { id: 'desc' }]
      const filters = { sortBy: query.sortBy, state, jobType, showOnlyMyJobs }
      if (query.includeTotal === false) {
        const listing = { sortBy, state, jobType, showOnlyMyJobs: showOnlyMyJobs === true }
        let after: Prisma.RecordingJobWhereInput = {}
        if (query.cursor !== undefined) {
          const { key, id } = cursors.decode(query.cursor, owner.organizationId, listing)
          const [clientId = '', created = ''] = String(key).split('\n')
          const at = new Date(created)
          const older: Prisma.RecordingJobWhereInput = { OR: [{ createdAt: { lt: at } }, { createdAt: at, id: { lt: id } }] }
          after = sortBy === 'userId' ? { OR: [{ clientId: { gt: clientId } }, { clientId, ...older }] } : older
        }
        const rows = await prisma.recordingJob.findMany({ where: { AND: [where, after] }, orderBy, take: pageSize + 1 })
        const page = rows.slice(0, pageSize)
        const last = page.at(-1)
        const next = rows.length > pageSize && last
          ? cursors.encode({ key: `${last.clientId}\n${last.createdAt.toISOString()}`, id: last.id }, owner.organizationId, listing)
          : undefined
        return { entities: page.map(toRecordingJob), ...cursorLinks(BASE, filters, pageSize, query.cursor, next) }
      }
      const [total, rows] = await Promise.all([
        prisma.recordingJob.count({ where }),
        prisma.recordingJob.findMany({ where, orderBy, skip: (pageNumber - 1) * pageSize, take: pageSize }),
      ])
      return { entities: rows.map(toRecordingJob), ...pageLinks(BASE, filters, pageSize, pageNumber, total) }
    },

    async failedRecordings(organizationId: string, jobId: string, query: FailedRecordingsQuery): Promise<FailedRecordingEntityListing> {
      const job = await find(organizationId, jobId)
      const { pageSize = 25, pageNumber = 1 } = query
      const path = `${selfUri(job.id)}/failedrecordings`
      const toEntity = (row: { recordingId: string; conversationId: string | null; reason: string }) => ({
        ...(row.conversationId === null ? {} : { conversation: { id: row.conversationId, selfUri: `/api/v2/conversations/${encodeURIComponent(row.conversationId)}` } }),
        recording: {
          id: row.recordingId,
          ...(row.conversationId === null ? {} : { selfUri: `/api/v2/conversations/${encodeURIComponent(row.conversationId)}/recordings/${row.recordingId}` }),
        },
        reason: row.reason,
      })
      if (query.includeTotal === false) {
        const listing = { failedRecordingsOf: job.id }
        const after = query.cursor === undefined ? undefined : cursors.decode(query.cursor, organizationId, listing).id
        const rows = await prisma.recordingJobFailure.findMany({
          where: { jobId: job.id, ...(after === undefined ? {} : { recordingId: { gt: after } }) },
          orderBy: { recordingId: 'asc' }, take: pageSize + 1,
        })
        const page = rows.slice(0, pageSize)
        const last = page.at(-1)
        const next = rows.length > pageSize && last ? cursors.encode({ key: 0, id: last.recordingId }, organizationId, listing) : undefined
        return { entities: page.map(toEntity), ...cursorLinks(path, {}, pageSize, query.cursor, next) }
      }
      const [total, rows] = await Promise.all([
        prisma.recordingJobFailure.count({ where: { jobId: job.id } }),
        prisma.recordingJobFailure.findMany({ where: { jobId: job.id }, orderBy: { recordingId: 'asc' }, skip: (pageNumber - 1) * pageSize, take: pageSize }),
      ])
      return { entities: rows.map(toEntity), ...pageLinks(path, {}, pageSize, pageNumber, total) }
    },

    /**
     * Collects a PENDING job's recordings and counts them: READY. One transaction under a lock on the job, so a
     * retried or concurrent run finds it READY (or CANCELLED) and does nothing.
     */
    async collect(jobId: string): Promise<void> {
      await prisma.$transaction(async (tx) => {
        const [job] = await tx.$queryRaw<{ state: string }[]>`SELECT state::text FROM recording_jobs WHERE id = ${jobId}::uuid FOR UPDATE`
        if (job?.state !== 'PENDING') return
        const row = await tx.recordingJob.findUniqueOrThrow({ where: { id: jobId } })
        const selection = selectionOf(queryOf(row.query))
        const kinds = [
          selection.includeScreen ? Prisma.empty : Prisma.sql`AND r.media_subtype IS DISTINCT FROM 'Screen' AND r.media IS DISTINCT FROM 'screen'`,
          selection.includeSnippet ? Prisma.empty : Prisma.sql`AND r.media_subtype IS DISTINCT FROM 'Snippet'`,
        ]
        await tx.$executeRaw`
          WITH matched AS (
            SELECT r.id, r.conversation_id, coalesce(r.start_time, r.creation_time) AS t FROM recordings r
            WHERE r.organization_id = ${row.organizationId}::uuid
              AND coalesce(r.start_time, r.creation_time) < ${selection.end}
              AND coalesce(r.end_time, r.start_time, r.creation_time) >= ${selection.start}
              ${kinds[0]} ${kinds[1]} AND ${selection.filters}),
          conversations AS (
            SELECT conversation_id FROM matched GROUP BY conversation_id ORDER BY min(t), conversation_id LIMIT ${selection.limit ?? null}::bigint)
          INSERT INTO recording_job_items (job_id, recording_id, conversation_id)
          SELECT ${jobId}::uuid, m.id, m.conversation_id FROM matched m
          WHERE ${selection.limit === undefined ? Prisma.sql`TRUE` : Prisma.sql`m.conversation_id IN (SELECT conversation_id FROM conversations)`}
          ON CONFLICT DO NOTHING`
        const [counts] = await tx.$queryRaw<{ recordings: number; conversations: number }[]>`
          SELECT count(*)::int AS recordings, count(DISTINCT conversation_id)::int AS conversations FROM recording_job_items WHERE job_id = ${jobId}::uuid`
        await tx.recordingJob.update({
          where: { id: jobId },
          data: { state: 'READY', totalRecordings: counts?.recordings ?? 0, totalConversations: counts?.conversations ?? 0 },
        })
      }, { timeout: 120_000 })
    },

    /**
     * One batch of a PROCESSING job: the next `batchSize` of its recordings after its cursor get their date; the
     * counters, the cursor and the next batch (or FULFILLED) are written in the same transaction, under a lock on the
     * job. A batch that dies is retried from the committed cursor: no recording is counted or set twice. Answers
     * whether it was the last, and how long to rest before the next one (queued for the end of that rest).
     */
    async processBatch(jobId: string): Promise<{ processed: number; skipped: number; failed: number; done: boolean; restMs: number } | undefined> {
      const startedAt = performance.now()
      return prisma.$transaction(async (tx) => {
        const [job] = await tx.$queryRaw<{ state: string; cursor: string | null }[]>`
          SELECT state::text, cursor::text FROM recording_jobs WHERE id = ${jobId}::uuid FOR UPDATE`
        if (job?.state !== 'PROCESSING') return undefined
        const row = await tx.recordingJob.findUniqueOrThrow({ where: { id: jobId } })
        const query = queryOf(row.query)
        const items = await tx.$queryRaw<{ id: string; conversationId: string }[]>`
          SELECT recording_id::text AS id, conversation_id AS "conversationId" FROM recording_job_items
          WHERE job_id = ${jobId}::uuid AND recording_id > coalesce(${job.cursor}::uuid, '00000000-0000-0000-0000-000000000000'::uuid)
          ORDER BY recording_id LIMIT ${batchSize}`
        const ids = items.map((item) => item.id)
        const organizationId = row.organizationId
        // The recordings still there, locked against the sweep and the API while their dates change.
        const present = new Set((await tx.$queryRaw<{ id: string }[]>`
          SELECT r.id::text AS id FROM recordings r WHERE r.id = ANY(${ids}::uuid[]) AND r.organization_id = ${organizationId}::uuid
          ORDER BY r.id FOR UPDATE OF r`).map((r) => r.id))
        const date = actionDateSql(query)
        let changed: { id: string }[]
        if (query.action === 'DELETE') {
          const clear = query.clearExport === true
          // A later archive or export date would come after the deletion: both move to the delete date.
          changed = await tx.$queryRaw`
            WITH due AS (SELECT r.id, ${date} AS d FROM recordings r
              WHERE r.id = ANY(${ids}::uuid[]) AND r.organization_id = ${organizationId}::uuid AND ${notProtected('r')})
            UPDATE recordings r SET delete_date = due.d,
              archive_date = CASE WHEN r.archive_date > due.d THEN due.d ELSE r.archive_date END,
              export_date = CASE WHEN ${clear} AND r.exported_date IS NULL THEN NULL
                WHEN r.export_date > due.d THEN due.d ELSE r.export_date END,
              export_integration_id = CASE WHEN ${clear} AND r.exported_date IS NULL THEN NULL ELSE r.export_integration_id END
            FROM due WHERE r.id = due.id RETURNING r.id::text AS id`
        } else if (query.action === 'ARCHIVE') {
          // Archived media stays as it is (a later archiveDate of archived media would restore it).
          changed = await tx.$queryRaw`
            UPDATE recordings r SET archive_date = ${date}
            WHERE r.id = ANY(${ids}::uuid[]) AND r.organization_id = ${organizationId}::uuid AND r.file_state NOT IN ('ARCHIVED', 'RESTORING')
            RETURNING r.id::text AS id`
        } else {
          // Never after the deletion; exported again when it was before. Archived media (its hot copy gone) is skipped:
          // an export writes the hot bytes, and the sweep archives nothing whose export is pending.
          changed = await tx.$queryRaw`
            UPDATE recordings r SET export_date = least(${date}, r.delete_date), exported_date = NULL,
              export_integration_id = ${query.integrationId ?? null}
            WHERE r.id = ANY(${ids}::uuid[]) AND r.organization_id = ${organizationId}::uuid AND r.file_state NOT IN ('ARCHIVED', 'RESTORING')
            RETURNING r.id::text AS id`
        }
        const failures = items.filter((item) => !present.has(item.id))
        if (failures.length > 0) {
          await tx.recordingJobFailure.createMany({
            data: failures.map((item) => ({ jobId, recordingId: item.id, conversationId: item.conversationId, reason: DELETED_SINCE })),
            skipDuplicates: true,
          })
        }
        const processed = changed.length
        const failed = failures.length
        const skipped = present.size - processed
        const done = items.length < batchSize
        const last = ids.at(-1)
        await tx.recordingJob.update({
          where: { id: jobId },
          data: {
            processed: { increment: processed }, skipped: { increment: skipped }, failed: { increment: failed },
            ...(last === undefined ? {} : { cursor: last }),
            ...(done ? { state: 'FULFILLED', completedAt: new Date() } : {}),
          },
        })
        if (ids.length > 0) await tx.recordingJobItem.deleteMany({ where: { jobId, recordingId: { in: ids } } })
        const restMs = done ? 0 : Math.round((performance.now() - startedAt) * REST_PER_BATCH_TIME)
        if (!done) await addProcessJob(tx, jobId, restMs)
        return { processed, skipped, failed, done, restMs }
      }, { timeout: 120_000 })
    },

    /** A job whose background work failed for good: FAILED, with why. */
    async fail(jobId: string, message: string): Promise<void> {
      await prisma.recordingJob.updateMany({
        where: { id: jobId, state: { in: ['PENDING', 'PROCESSING'] } },
        data: { state: 'FAILED', errorMessage: message, completedAt: new Date() },
      })
    },

    /**
     * Exports the recordings whose exportDate has passed and that are not exported yet, a few per transaction, until
     * none is due or `until` has passed: for each, its stored media (when it has hot bytes) and its JSON as GET answers
     * it (without mediaUris) go to its export target as `<conversationId>/<recordingId>.<ext>` and `.json`; then its
     * exportedDate is set. One whose media is archived fails: it is never exported without its media. The rows stay
     * locked meanwhile (SKIP LOCKED: instances share the work, the sweep waits). A recording whose export fails stays
     * due and is tried again by the next run.
     */
    async exportDue({ until, onFailed }: { until: number; onFailed?: (recordingId: string, error: unknown) => void }): Promise<{ exported: number; failed: number }> {
      const report = { exported: 0, failed: 0 }
      const skip: string[] = []
      while (Date.now() < until) {
        const selected = await prisma.$transaction(async (tx) => {
          const due = await tx.$queryRaw<{
            id: string; organizationId: string; conversationId: string; integrationId: string; storageKey: string | null; contentType: string | null; archived: boolean
          }[]>`
            SELECT r.id::text AS id, r.organization_id::text AS "organizationId", r.conversation_id AS "conversationId",
              r.export_integration_id AS "integrationId", m.storage_key AS "storageKey", m.content_type AS "contentType",
              m.archived_at IS NOT NULL AS archived
            FROM recordings r LEFT JOIN stored_media m ON m.recording_id = r.id
            WHERE r.export_date <= now() AND r.exported_date IS NULL AND r.export_integration_id IS NOT NULL
              AND r.id <> ALL(${skip}::uuid[])
            ORDER BY r.export_date LIMIT ${EXPORT_BATCH_SIZE}
            FOR UPDATE OF r SKIP LOCKED`
          const exported: string[] = []
          for (const recording of due) {
            try {
              const writer = await writerFor(recording.integrationId)
              const base = `${recording.conversationId}/${recording.id}`
              // Never exported without its media: it stays due, and is tried again once restored.
              if (recording.archived) throw new Error('its media is archived; restore it to export it')
              if (recording.storageKey !== null && recording.contentType !== null) {
                await writer.write(`${base}.${extensionOf(recording.contentType)}`, await storage.read(recording.storageKey), recording.contentType)
              }
              const answer = await selectRecording(tx, { organizationId: recording.organizationId, conversationId: recording.conversationId, recordingId: recording.id }, null)
              if (!answer) throw new Error('recording gone')
              const document = JSON.parse(answer.json) as Record<string, unknown>
              delete document.mediaUris
              await writer.write(`${base}.json`, Buffer.from(`${JSON.stringify(document, null, 2)}\n`), 'application/json')
              exported.push(recording.id)
            } catch (error) {
              skip.push(recording.id)
              report.failed++
              onFailed?.(recording.id, error)
            }
          }
          if (exported.length > 0) await tx.$executeRaw`UPDATE recordings SET exported_date = now() WHERE id = ANY(${exported}::uuid[])`
          report.exported += exported.length
          return due.length
        }, { timeout: 600_000 })
        if (selected < EXPORT_BATCH_SIZE) break
      }
      return report
    },
  }
}

export type RecordingJobService = ReturnType<typeof createRecordingJobService>

/** The job id of a job payload (written by this service only). */
function jobIdOf(payload: unknown): string {
  const value = (payload as Record<string, unknown> | null)?.jobId
  if (typeof value !== 'string' || !isUuid(value)) throw new Error(`job payload without jobId: ${JSON.stringify(payload)}`)
  return value
}

/** The background work of recording jobs: collecting, processing in batches, and exporting (every minute). */
export function defineRecordingJobTasks(app: {
  jobs: Pick<Jobs, 'define' | 'schedule'>
  services: { recordingJobs: RecordingJobService }
  log: { child(bindings: object): { info(fields: object, message: string): void; error(fields: object, message: string): void } }
}): void {
  const { recordingJobs } = app.services
  const log = app.log.child({ component: 'jobs' })
  const failing = async (jobId: string, lastAttempt: boolean, work: () => Promise<void>) => {
    try {
      await work()
    } catch (error) {
      if (lastAttempt) {
        log.error({ err: error, jobId }, 'recording job failed')
        await recordingJobs.fail(jobId, 'The job could not be completed; the dates set so far stay.')
        return
      }
      throw error
    }
  }
  app.jobs.define(COLLECT_TASK, async (payload, { lastAttempt }) => {
    const jobId = jobIdOf(payload)
    await failing(jobId, lastAttempt, async () => {
      await recordingJobs.collect(jobId)
      log.info({ jobId }, 'recording job collected')
    })
  })
  app.jobs.define(PROCESS_TASK, async (payload, { lastAttempt }) => {
    const jobId = jobIdOf(payload)
    await failing(jobId, lastAttempt, async () => {
      const batch = await recordingJobs.processBatch(jobId)
      if (batch) log.info({ jobId, ...batch }, batch.done ? 'recording job fulfilled' : 'recording job batch processed')
      // The rest the next batch was queued after: this worker then takes it.
      if (batch && !batch.done) await setTimeout(batch.restMs)
    })
  })
  app.jobs.define(EXPORT_TASK, async () => {
    const report = await recordingJobs.exportDue({
      until: Date.now() + 50_000,
      onFailed: (recordingId, error) => log.error({ err: error, recordingId }, 'recording could not be exported; tried again next run'),
    })
    if (report.exported + report.failed > 0) log.info(report, 'recordings exported')
  })
  app.jobs.schedule(EXPORT_TASK, '* * * * *')
}
