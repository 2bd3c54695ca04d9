import { Type, type Static } from '@sinclair/typebox'
import { DateTime, Int32, Int64, StringEnum } from './common.js'

const Opt = Type.Optional

export const RECORDING_JOB_STATES = ['FULFILLED', 'PENDING', 'READY', 'PROCESSING', 'CANCELLED', 'FAILED'] as const
export type RecordingJobState = (typeof RECORDING_JOB_STATES)[number]
export const RECORDING_JOB_ACTIONS = ['ARCHIVE', 'DELETE', 'EXPORT'] as const
export type RecordingJobAction = (typeof RECORDING_JOB_ACTIONS)[number]
export const MAX_RECORDING_JOB_PAGE_SIZE = 100
/** Days an age may name (about 100 years). */
const MAX_AGE_DAYS = 36_500

/** A job id as the examples show it (made at creation, so "Try it out" of the reads finds none). */
export const EXAMPLE_JOB_ID = '019ac0de-5b00-7a00-8b00-0000000000b1'

/**
 * An analytics filter as Genesys sends it: `type` and/or, `predicates` and nested `clauses`. Which dimensions this store
 * evaluates is checked by the service (an unsupported one is a 400 naming it), so the shape stays open here.
 */
const Predicate = Type.Object(
  {
    type: Opt(Type.String({ maxLength: 50, description: 'dimension (the default); other types are refused.' })),
    dimension: Opt(Type.String({ maxLength: 100, description: 'conversationId, mediaType or userId.' })),
    operator: Opt(Type.String({ maxLength: 50, description: 'matches (the default); others are refused.' })),
    value: Opt(Type.String({ maxLength: 1000 })),
  },
  { title: 'DetailQueryPredicate', additionalProperties: true },
)
const Clause = Type.Object(
  {
    type: StringEnum(['and', 'or'] as const),
    predicates: Type.Array(Predicate, { maxItems: 100 }),
  },
  { title: 'DetailQueryClause', additionalProperties: true },
)
const Filter = Type.Object(
  {
    type: StringEnum(['and', 'or'] as const),
    clauses: Opt(Type.Array(Clause, { maxItems: 50 })),
    predicates: Opt(Type.Array(Predicate, { maxItems: 100 })),
  },
  { title: 'DetailQueryFilter', additionalProperties: true },
)
export type DetailQueryFilter = Static<typeof Filter>

export const AsyncConversationQuerySchema = Type.Object(
  {
    interval: Type.String({
      minLength: 3, maxLength: 100,
      description: 'ISO-8601 interval start/end: recordings whose time span (startTime to endTime, else creationTime) overlaps it.',
      examples: ['2024-05-01T00:00:00.000Z/2024-06-01T00:00:00.000Z'],
    }),
    conversationFilters: Opt(Type.Array(Filter, {
      maxItems: 20, description: 'Dimension conversationId (operator matches).',
    })),
    segmentFilters: Opt(Type.Array(Filter, {
      maxItems: 20,
      description: 'Dimensions conversationId, mediaType (voice, chat, email, message, screenshare, or this store\'s media names) and userId (a user of the recording), operator matches.',
    })),
    evaluationFilters: Opt(Type.Array(Type.Unknown(), { maxItems: 0, description: 'Not supported: must be empty.' })),
    surveyFilters: Opt(Type.Array(Type.Unknown(), { maxItems: 0, description: 'Not supported: must be empty.' })),
    resolutionFilters: Opt(Type.Array(Type.Unknown(), { maxItems: 0, description: 'Not supported: must be empty.' })),
    order: Opt(StringEnum(['asc', 'desc', 'unordered'] as const, { description: 'Accepted; a job acts on every match.' })),
    orderBy: Opt(StringEnum(['conversationStart', 'conversationEnd', 'segmentStart', 'segmentEnd'] as const, { description: 'Accepted; a job acts on every match.' })),
    limit: Opt(Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'At most this many conversations (the earliest first).' })),
    startOfDayIntervalMatching: Opt(Type.Boolean({ description: 'Accepted and ignored.' })),
  },
  { title: 'AsyncConversationQuery', additionalProperties: true },
)
export type AsyncConversationQuery = Static<typeof AsyncConversationQuerySchema>

export const RecordingJobsQuerySchema = Type.Object(
  {
    action: StringEnum(RECORDING_JOB_ACTIONS, { description: 'DELETE sets deleteDate, ARCHIVE archiveDate, EXPORT exportDate.' }),
    actionDate: Opt(DateTime('The date to set (for screen recordings too, unless a screen date or age is given).')),
    actionAge: Opt(Type.Integer({ minimum: 0, maximum: MAX_AGE_DAYS, description: 'Instead of actionDate: each recording\'s creationTime plus this many days.' })),
    screenRecordingActionDate: Opt(DateTime('The date to set on screen recordings.')),
    screenRecordingActionAge: Opt(Type.Integer({ minimum: 0, maximum: MAX_AGE_DAYS, description: 'Instead of screenRecordingActionDate: creationTime plus this many days.' })),
    integrationId: Opt(Type.String({ minLength: 1, maxLength: 200, description: 'EXPORT (then required): the export target, one of EXPORT_TARGETS.' })),
    includeRecordingsWithSensitiveData: Opt(Type.Boolean({ description: 'Accepted; this store flags no recording as sensitive.' })),
    includeScreenRecordings: Opt(Type.Boolean({ description: 'Also act on screen recordings (default true).' })),
    includePolicyBasedRecordings: Opt(Type.Boolean({ description: 'Accepted; this store records no policy origin.' })),
    includeSnippetRecordings: Opt(Type.Boolean({ description: 'Also act on snippet recordings (default true).' })),
    clearExport: Opt(Type.Boolean({ description: 'DELETE only: cancel the pending exports of the recordings (default false).' })),
    conversationQuery: Opt(AsyncConversationQuerySchema),
    agedConversationInterval: Opt(Type.String({ minLength: 3, maxLength: 100, description: 'Instead of conversationQuery: an interval, without filters.' })),
  },
  {
    title: 'RecordingJobsQuery',
    additionalProperties: true,
    examples: [{
      action: 'DELETE', actionDate: '2030-01-01T00:00:00.000Z',
      conversationQuery: { interval: '2024-05-01T00:00:00.000Z/2024-06-01T00:00:00.000Z' },
    }],
  },
)
export type RecordingJobsQuery = Static<typeof RecordingJobsQuerySchema>

export const ExecuteRecordingJobsQuerySchema = Type.Object(
  { state: StringEnum(['PROCESSING'] as const, { description: 'Only PROCESSING: execute a READY job.' }) },
  { title: 'ExecuteRecordingJobsQuery', additionalProperties: true, examples: [{ state: 'PROCESSING' }] },
)
export type ExecuteRecordingJobsQuery = Static<typeof ExecuteRecordingJobsQuerySchema>

const EntityRef = Type.Object({ id: Opt(Type.String()), selfUri: Opt(Type.String()) }, { title: 'AddressableEntityRef' })

export const RecordingJobSchema = Type.Object(
  {
    id: Type.String(),
    user: Opt(EntityRef),
    state: StringEnum(RECORDING_JOB_STATES),
    recordingJobsQuery: Opt(Type.Unsafe<RecordingJobsQuery>({ type: 'object', additionalProperties: true, description: 'The query the job was created from.' })),
    dateCreated: Opt(DateTime()),
    totalConversations: Opt(Int32('Conversations matched (once READY).')),
    totalRecordings: Opt(Int32('Recordings matched (once READY).')),
    totalSkippedRecordings: Opt(Int32('Recordings left as they were: DELETE of a conversation under deletion protection, ARCHIVE of archived media.')),
    totalFailedRecordings: Opt(Int32('Recordings the job failed on; see failedRecordings.')),
    totalProcessedRecordings: Opt(Int32('Recordings whose date was set.')),
    percentProgress: Opt(Type.Integer({ minimum: 0, maximum: 100 })),
    errorMessage: Opt(Type.String()),
    failedRecordings: Opt(Type.String({ description: 'URI of the failed recordings of this job.' })),
    selfUri: Type.String(),
  },
  { title: 'RecordingJob' },
)
export type RecordingJob = Static<typeof RecordingJobSchema>

const listing = <T extends ReturnType<typeof Type.Object>>(entity: T, title: string) =>
  Type.Object(
    {
      entities: Type.Array(entity),
      pageSize: Int32(),
      pageNumber: Opt(Int32()),
      total: Opt(Int64('Omitted with includeTotal=false.')),
      pageCount: Opt(Int32()),
      firstUri: Opt(Type.String()),
      previousUri: Opt(Type.String()),
      selfUri: Type.String(),
      nextUri: Opt(Type.String({ description: 'Absent on the last page; with includeTotal=false it carries the cursor.' })),
      lastUri: Opt(Type.String()),
    },
    { title },
  )

export const RecordingJobEntityListingSchema = listing(RecordingJobSchema, 'RecordingJobEntityListing')
export type RecordingJobEntityListing = Static<typeof RecordingJobEntityListingSchema>

export const RecordingJobFailedRecordingSchema = Type.Object(
  {
    conversation: Opt(EntityRef),
    recording: Opt(EntityRef),
    reason: Opt(Type.String({ description: 'Why the job failed on it (this store).' })),
  },
  { title: 'RecordingJobFailedRecording' },
)
export type RecordingJobFailedRecording = Static<typeof RecordingJobFailedRecordingSchema>

export const FailedRecordingEntityListingSchema = listing(RecordingJobFailedRecordingSchema, 'FailedRecordingEntityListing')
export type FailedRecordingEntityListing = Static<typeof FailedRecordingEntityListingSchema>

const paging = {
  pageSize: Opt(Type.Integer({ minimum: 1, maximum: MAX_RECORDING_JOB_PAGE_SIZE, default: 25, description: `Default 25, at most ${MAX_RECORDING_JOB_PAGE_SIZE}.` })),
  pageNumber: Opt(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1, description: '1-based; ignored with includeTotal=false.' })),
  includeTotal: Opt(Type.Boolean({ description: 'false: cursor paging (no total, pageCount nor lastUri; nextUri carries the cursor).' })),
  cursor: Opt(Type.String({ maxLength: 1000, description: 'Opaque position from a nextUri (with includeTotal=false).' })),
}

export const RecordingJobListQuery = Type.Object({
  ...paging,
  sortBy: Opt(StringEnum(['userId', 'dateCreated'] as const, { description: 'userId (default): by creator, newest first within; dateCreated: newest first.' })),
  state: Opt(StringEnum(RECORDING_JOB_STATES)),
  showOnlyMyJobs: Opt(Type.Boolean({ description: 'Only jobs created by the calling client.' })),
  jobType: Opt(StringEnum(RECORDING_JOB_ACTIONS)),
})
export type RecordingJobListQuery = Static<typeof RecordingJobListQuery>

export const FailedRecordingsQuery = Type.Object(paging)
export type FailedRecordingsQuery = Static<typeof FailedRecordingsQuery>

export const RecordingJobParams = Type.Object({
  jobId: Type.String({ minLength: 1, maxLength: 128, description: 'The id answered at creation.', examples: [EXAMPLE_JOB_ID] }),
})
