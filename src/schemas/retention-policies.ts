import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { ARCHIVE_MEDIUMS, DateTime, Int32, StringEnum, Text } from './common.js'

const Opt = Type.Optional
/**
 * Request bodies stay open (clients PUT back what they read): members not described here are accepted, and the
 * response schemas leave them out. References to other services' entities and what only other products act on are
 * the exception: answered as given, whole.
 */
const open = { additionalProperties: true } as const

/** At most this many items in any list of a policy (users, queues, date ranges, time slots, assignments). */
export const MAX_POLICY_LIST = 1000
export const MAX_POLICY_PAGE_SIZE = 100

/**
 * The policy ids of the documented calls. A policy's id is made when it is created, so "Try it out" of the calls on one
 * policy finds it only where the create example's policy was given this id (as the OpenAPI examples test does).
 */
export const EXAMPLE_POLICY_ID = '019ac0de-5b00-7a00-8b00-0000000000a1'
export const EXAMPLE_CROSSPLATFORM_POLICY_ID = '019ac0de-5b00-7a00-8b00-0000000000a2'

const List = <T extends TSchema>(item: T, description: string) => Opt(Type.Array(item, { maxItems: MAX_POLICY_LIST, description }))

/** A reference to an entity of another Genesys service (user, queue, team, wrap-up code, ...): stored as given. */
const EntityRef = (title: string) =>
  Type.Object({ id: Opt(Text(256)), name: Opt(Text(1000)), selfUri: Opt(Text(2000)) }, { title, ...open })

/** Something only other Genesys products act on (evaluations, surveys, exports): stored and answered as given. */
const Opaque = (title: string, description: string) => Type.Object({}, { title, description, ...open })

export const TimeSlotSchema = Type.Object(
  {
    startTime: Opt(Type.String({ maxLength: 32, description: 'Start of the slot, `HH:mm[:ss[.SSS]]` in the time zone of timeAllowed.', examples: ['08:00:00.000'] })),
    stopTime: Opt(Type.String({ maxLength: 32, description: 'End of the slot (exclusive), `HH:mm[:ss[.SSS]]`; 24:00 is the end of the day.', examples: ['18:00:00.000'] })),
    day: Opt(Type.Integer({ minimum: 1, maximum: 7, description: 'Day of the week: 1 Monday … 7 Sunday.' })),
  },
  { title: 'TimeSlot' },
)

export const TimeAllowedSchema = Type.Object(
  {
    timeSlots: List(TimeSlotSchema, 'The slots a recording must start in (one suffices).'),
    timeZoneId: Opt(Type.String({ maxLength: 64, description: 'IANA time zone of the slots, e.g. `Europe/Berlin`; UTC when absent.' })),
    empty: Opt(Type.Boolean({ description: 'No slots: no restriction.' })),
  },
  { title: 'TimeAllowed' },
)

export const DurationConditionSchema = Type.Object(
  {
    durationTarget: Opt(Type.String({ maxLength: 64, description: 'What is measured; this store measures the recording (endTime − startTime).' })),
    durationOperator: Opt(Type.String({ maxLength: 64, description: '`GREATER_THAN`, `LESS_THAN` or `IN` (between the two ends of durationRange).' })),
    durationRange: Opt(Type.String({
      maxLength: 128, description: 'ISO-8601 duration (`PT5M`), or `min/max` for IN (`PT1M/PT5M`); plain numbers are milliseconds.', examples: ['PT5M'],
    })),
    durationMode: Opt(Type.String({ maxLength: 64, description: '`Over`, `Under` or `Between`: the same as the operators, when durationOperator is absent.' })),
  },
  { title: 'DurationCondition' },
)

const CUSTOMER_PARTICIPATION = ['YES', 'NO'] as const
export const POLICY_DIRECTIONS = ['INBOUND', 'OUTBOUND'] as const
export const POLICY_MEDIA_TYPES = ['CALL', 'CHAT'] as const

/** Conditions every media policy has. */
const commonConditions = {
  forUsers: List(EntityRef('PolicyUser'), 'Recordings of any of these users (by id).'),
  dateRanges: List(Type.String({ maxLength: 128 }), 'Recordings that start within one of these ISO-8601 intervals (`start/end`).'),
  forQueues: List(EntityRef('Queue'), 'Not evaluated by this store (see policyErrors).'),
  wrapupCodes: List(EntityRef('WrapupCode'), 'Not evaluated by this store (see policyErrors).'),
  languages: List(EntityRef('Language'), 'Not evaluated by this store (see policyErrors).'),
  timeAllowed: Opt(TimeAllowedSchema),
  teams: List(EntityRef('Team'), 'Not evaluated by this store (see policyErrors).'),
}
const Directions = List(StringEnum(POLICY_DIRECTIONS), 'Not evaluated by this store (see policyErrors).')
const CustomerParticipation = Opt(StringEnum(CUSTOMER_PARTICIPATION, { description: 'Not evaluated by this store (see policyErrors).' }))
const Duration = Opt(DurationConditionSchema)

export const CallMediaPolicyConditionsSchema = Type.Object(
  { ...commonConditions, directions: Directions, duration: Duration }, { title: 'CallMediaPolicyConditions' },
)
export const ChatMediaPolicyConditionsSchema = Type.Object({ ...commonConditions, duration: Duration }, { title: 'ChatMediaPolicyConditions' })
export const EmailMediaPolicyConditionsSchema = Type.Object(
  { ...commonConditions, customerParticipation: CustomerParticipation }, { title: 'EmailMediaPolicyConditions' },
)
export const MessageMediaPolicyConditionsSchema = Type.Object(
  { ...commonConditions, customerParticipation: CustomerParticipation }, { title: 'MessageMediaPolicyConditions' },
)

export const PolicyConditionsSchema = Type.Object(
  {
    forUsers: commonConditions.forUsers,
    directions: Directions,
    dateRanges: commonConditions.dateRanges,
    mediaTypes: List(StringEnum(POLICY_MEDIA_TYPES), 'Media of the recording: CALL (audio, screen) or CHAT (chat).'),
    forQueues: commonConditions.forQueues,
    duration: Duration,
    wrapupCodes: commonConditions.wrapupCodes,
    timeAllowed: commonConditions.timeAllowed,
    teams: commonConditions.teams,
    customerParticipation: CustomerParticipation,
  },
  { title: 'PolicyConditions' },
)

/** At most a century: the dates must stay ones PostgreSQL and JavaScript can hold. */
export const MAX_RETENTION_DAYS = 36_500
const RetentionDays = (description: string) => Type.Integer({ minimum: 0, maximum: MAX_RETENTION_DAYS, description: `${description} 0 to ${MAX_RETENTION_DAYS}.` })

export const ArchiveRetentionSchema = Type.Object(
  {
    days: Opt(RetentionDays('Archive this many days after the recording is ingested.')),
    storageMedium: Opt(StringEnum(ARCHIVE_MEDIUMS)),
  },
  { title: 'ArchiveRetention' },
)
export const DeleteRetentionSchema = Type.Object(
  { days: Opt(RetentionDays('Delete this many days after the recording is ingested.')) }, { title: 'DeleteRetention' },
)
export const RetentionDurationSchema = Type.Object(
  { archiveRetention: Opt(ArchiveRetentionSchema), deleteRetention: Opt(DeleteRetentionSchema) }, { title: 'RetentionDuration' },
)

/** The actions of both families: cross-platform ones have no surveys and no screen-recording start. */
const commonActions = {
  retainRecording: Opt(Type.Boolean({ description: 'Keep the recording (no delete date unless retentionDuration gives one).' })),
  deleteRecording: Opt(Type.Boolean({ description: 'Delete the recording at once (its deleteDate is its ingest); ignored when retainRecording is true.' })),
  alwaysDelete: Opt(Type.Boolean({ description: 'Delete the recording at once, whatever the two flags above say.' })),
  assignEvaluations: List(Opaque('EvaluationAssignment', 'Stored as given.'), 'Stored and answered as given; not acted on.'),
  assignMeteredEvaluations: List(Opaque('MeteredEvaluationAssignment', 'Stored as given.'), 'Stored and answered as given; not acted on.'),
  assignMeteredAssignmentByAgent: List(Opaque('MeteredAssignmentByAgent', 'Stored as given.'), 'Stored and answered as given; not acted on.'),
  assignCalibrations: List(Opaque('CalibrationAssignment', 'Stored as given.'), 'Stored and answered as given; not acted on.'),
  retentionDuration: Opt(RetentionDurationSchema),
  integrationExport: Opt(Opaque('IntegrationExport', 'Stored and answered as given; not acted on.')),
}

export const PolicyActionsSchema = Type.Object(
  {
    ...commonActions,
    assignSurveys: List(Opaque('SurveyAssignment', 'Stored as given.'), 'Stored and answered as given; not acted on.'),
    initiateScreenRecording: Opt(Opaque('InitiateScreenRecording', 'Stored and answered as given; not acted on.')),
  },
  { title: 'PolicyActions' },
)
export const CrossPlatformPolicyActionsSchema = Type.Object(commonActions, { title: 'CrossPlatformPolicyActions' })

const mediaPolicy = (title: string, actions: TSchema, conditions: TSchema) =>
  Type.Object({ actions: Opt(actions), conditions: Opt(conditions) }, { title })

export const MediaPoliciesSchema = Type.Object(
  {
    callPolicy: Opt(mediaPolicy('CallMediaPolicy', PolicyActionsSchema, CallMediaPolicyConditionsSchema)),
    chatPolicy: Opt(mediaPolicy('ChatMediaPolicy', PolicyActionsSchema, ChatMediaPolicyConditionsSchema)),
    emailPolicy: Opt(mediaPolicy('EmailMediaPolicy', PolicyActionsSchema, EmailMediaPolicyConditionsSchema)),
    messagePolicy: Opt(mediaPolicy('MessageMediaPolicy', PolicyActionsSchema, MessageMediaPolicyConditionsSchema)),
  },
  { title: 'MediaPolicies' },
)
export const CrossPlatformMediaPoliciesSchema = Type.Object(
  {
    callPolicy: Opt(mediaPolicy('CrossPlatformCallMediaPolicy', CrossPlatformPolicyActionsSchema, CallMediaPolicyConditionsSchema)),
    chatPolicy: Opt(mediaPolicy('CrossPlatformChatMediaPolicy', CrossPlatformPolicyActionsSchema, ChatMediaPolicyConditionsSchema)),
    emailPolicy: Opt(mediaPolicy('CrossPlatformEmailMediaPolicy', CrossPlatformPolicyActionsSchema, EmailMediaPolicyConditionsSchema)),
    messagePolicy: Opt(mediaPolicy('CrossPlatformMessageMediaPolicy', CrossPlatformPolicyActionsSchema, MessageMediaPolicyConditionsSchema)),
  },
  { title: 'CrossPlatformMediaPolicies' },
)

export const PolicyErrorMessageSchema = Type.Object(
  {
    statusCode: Opt(Type.Integer()),
    userMessage: Opt(Type.Unknown({ description: 'What is wrong, in words.' })),
    userParamsMessage: Opt(Type.String({ description: 'userMessage with `{placeholders}` for userParams.' })),
    errorCode: Opt(Type.String()),
    correlationId: Opt(Type.String({ description: 'The request that saved the policy.' })),
    userParams: Opt(Type.Array(Type.Object({ key: Opt(Type.String()), value: Opt(Type.String()) }, { title: 'UserParam' }))),
    insertDate: Opt(DateTime('When the problem was found (the policy was saved).')),
  },
  { title: 'PolicyErrorMessage' },
)
export const PolicyErrorsSchema = Type.Object(
  { policyErrorMessages: Opt(Type.Array(PolicyErrorMessageSchema)) },
  { title: 'PolicyErrors', description: 'Set by the store when the policy is saved (a value sent is ignored). A policy with errors applies to no recording.' },
)
export type PolicyErrors = Static<typeof PolicyErrorsSchema>
export type PolicyErrorMessage = Static<typeof PolicyErrorMessageSchema>

const readOnly = (description: string) => ({ description: `${description} Read-only: a value sent is ignored.` })

/** The members of a policy of either family; `actions` and `mediaPolicies` are the family's. */
const policyMembers = <A extends TSchema, M extends TSchema>(actions: A, mediaPolicies: M) => ({
  id: Opt(Type.String(readOnly('Policy id.'))),
  name: Opt(Type.String({ minLength: 1, maxLength: 256, description: 'Policy name.' })),
  modifiedDate: Opt(DateTime(readOnly('Last change.').description)),
  createdDate: Opt(DateTime(readOnly('Creation.').description)),
  order: Opt(Type.Integer({ minimum: -2_147_483_648, maximum: 2_147_483_647, description: 'Stored as given; every matching policy applies, whatever its order.' })),
  description: Opt(Text(2000, 'Free text.')),
  enabled: Opt(Type.Boolean({ description: 'Whether the policy applies to recordings ingested from now on (default false).' })),
  mediaPolicies: Opt(mediaPolicies),
  conditions: Opt(PolicyConditionsSchema),
  actions: Opt(actions),
  policyErrors: Opt(PolicyErrorsSchema),
  selfUri: Opt(Type.String(readOnly('API path.'))),
})

const EXAMPLE_POLICY = {
  name: 'Calls: archive after 30 days, delete after a year',
  description: 'Every call recording.',
  enabled: true,
  mediaPolicies: {
    callPolicy: {
      conditions: {},
      actions: {
        retainRecording: true,
        retentionDuration: { archiveRetention: { days: 30, storageMedium: 'CLOUDARCHIVE' }, deleteRetention: { days: 365 } },
      },
    },
  },
}

export const PolicySchema = Type.Object(policyMembers(PolicyActionsSchema, MediaPoliciesSchema), { title: 'Policy', examples: [EXAMPLE_POLICY] })
export type Policy = Static<typeof PolicySchema>

export const CrossPlatformPolicySchema = Type.Object(
  policyMembers(CrossPlatformPolicyActionsSchema, CrossPlatformMediaPoliciesSchema),
  { title: 'CrossPlatformPolicy', examples: [EXAMPLE_POLICY] },
)
export type CrossPlatformPolicy = Static<typeof CrossPlatformPolicySchema>

const withName = <T extends typeof PolicySchema | typeof CrossPlatformPolicySchema>(schema: T, title: string) =>
  Type.Object({ ...schema.properties, name: Type.String({ minLength: 1, maxLength: 256, description: 'Policy name.' }) }, { title, examples: [EXAMPLE_POLICY] })

export const PolicyCreateSchema = withName(PolicySchema, 'PolicyCreate')
export const CrossPlatformPolicyCreateSchema = withName(CrossPlatformPolicySchema, 'CrossPlatformPolicyCreate')

/** A policy body of either family, as the service takes it (the families differ only in nested members it stores). */
export type AnyPolicy = Policy | CrossPlatformPolicy

export const PolicyUpdateSchema = Type.Object(
  { enabled: Opt(Type.Boolean({ description: 'New enabled state; absent leaves it as it is.' })) },
  { title: 'PolicyUpdate', examples: [{ enabled: false }] },
)
export const CrossPlatformPolicyUpdateSchema = Type.Object(PolicyUpdateSchema.properties, { title: 'CrossPlatformPolicyUpdate', examples: [{ enabled: false }] })
export type PolicyUpdate = Static<typeof PolicyUpdateSchema>

const listing = (entity: TSchema) =>
  Type.Object(
    {
      entities: Type.Array(entity),
      pageSize: Int32(),
      pageNumber: Int32(),
      total: Int32(),
      lastUri: Type.String(),
      firstUri: Type.String(),
      selfUri: Type.String(),
      nextUri: Opt(Type.String()),
      previousUri: Opt(Type.String()),
      pageCount: Int32(),
    },
    { title: 'PolicyEntityListing' },
  )

/** Genesys types both lists as PolicyEntityListing; the cross-platform one holds CrossPlatformPolicy objects. */
export const PolicyEntityListingSchema = listing(PolicySchema)
export const CrossPlatformPolicyEntityListingSchema = listing(CrossPlatformPolicySchema)
export type PolicyEntityListing = { entities: AnyPolicy[] } & Omit<Static<typeof PolicyEntityListingSchema>, 'entities'>

export const POLICY_SORTS = ['name', 'dateCreated', 'dateModified'] as const

export const PolicyListQuery = Type.Object({
  pageSize: Opt(Type.Integer({ minimum: 1, maximum: MAX_POLICY_PAGE_SIZE, default: 25, description: `Default 25, at most ${MAX_POLICY_PAGE_SIZE}.` })),
  pageNumber: Opt(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1, description: 'Default 1, the first page.' })),
  sortBy: Opt(StringEnum(POLICY_SORTS, { description: 'name, dateCreated (the default) or dateModified; ascending.' })),
  expand: Opt(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 20, description: 'Accepted and ignored: the policies are answered whole.' })),
  nextPage: Opt(Type.String({ maxLength: 256, description: 'Accepted and ignored: page with pageNumber.' })),
  previousPage: Opt(Type.String({ maxLength: 256, description: 'Accepted and ignored: page with pageNumber.' })),
  name: Opt(Type.String({ maxLength: 256, description: 'Only policies whose name contains this text (any case).' })),
  enabled: Opt(Type.Boolean({ description: 'Only enabled (true) or disabled (false) policies.' })),
  summary: Opt(Type.Boolean({ default: false, description: 'Only id, name, description, order, enabled, the dates and selfUri of each policy.' })),
  hasErrors: Opt(Type.Boolean({ description: 'Only policies with (true) or without (false) policyErrors.' })),
  deleteDaysThreshold: Opt(Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'Only policies with an action that deletes after more than this many days.' })),
})
export type PolicyListQuery = Static<typeof PolicyListQuery>

export const PolicyParams = Type.Object({
  policyId: Type.String({ minLength: 1, maxLength: 128, description: 'The policy id.', examples: [EXAMPLE_POLICY_ID] }),
})
export const CrossPlatformPolicyParams = Type.Object({
  policyId: Type.String({ minLength: 1, maxLength: 128, description: 'The policy id.', examples: [EXAMPLE_CROSSPLATFORM_POLICY_ID] }),
})

const idsQuery = (example: string) => Type.Object({
  ids: Type.String({ minLength: 1, maxLength: 100_000, description: 'Comma-separated ids of the policies to delete; ids not found are skipped.', examples: [example] }),
})
export const DeletePoliciesQuery = idsQuery(EXAMPLE_POLICY_ID)
export const DeleteCrossPlatformPoliciesQuery = idsQuery(EXAMPLE_CROSSPLATFORM_POLICY_ID)
