import { v7 as uuid7 } from 'uuid'
import { pageLinks } from './paging.js'
import { Prisma, type PrismaClient, type RetentionPolicy as PolicyRow, type RetentionPolicyFamily } from '../generated/prisma/client.js'
import { NotFoundError } from '../errors.js'
import type { CreateRecording } from '../schemas/recording.js'
import type {
  AnyPolicy, PolicyEntityListing, PolicyErrorMessage, PolicyErrors, PolicyListQuery, PolicyUpdate,
} from '../schemas/retention-policies.js'
import { isUuid } from './recording-key.js'

export type PolicyFamily = RetentionPolicyFamily

export const POLICY_PATHS: Record<PolicyFamily, string> = {
  classic: '/api/v2/recording/mediaretentionpolicies',
  crossplatform: '/api/v2/recording/crossplatform/mediaretentionpolicies',
}

/**
 * How long an instance reuses an organization's enabled policies at ingest. A change made through another instance
 * reaches this one within that time; the instance that made it uses it at once.
 */
export const POLICY_CACHE_MS = 5_000

const DAY_MS = 86_400_000

// ---------------------------------------------------------------------------------------------------------------------
// Evaluation. A policy is read as rules: the media policy for the recording's media (callPolicy: audio and screen,
// chatPolicy: chat, emailPolicy: email, messagePolicy: messaging), its conditions together with the policy's top-level
// ones and its actions (the top-level ones when it has none); without a media policy for that media, the top-level
// conditions and actions. Every condition given must hold.

/** Which media policy applies to a recording's `media`. */
export const MEDIA_POLICY_OF: Readonly<Record<string, keyof MediaPolicies>> = {
  audio: 'callPolicy', screen: 'callPolicy', chat: 'chatPolicy', email: 'emailPolicy', messaging: 'messagePolicy',
}
/** The recording media each value of the top-level `conditions.mediaTypes` stands for. */
const MEDIA_OF_TYPE: Readonly<Record<string, readonly string[]>> = { CALL: ['audio', 'screen'], CHAT: ['chat'] }

type Conditions = NonNullable<AnyPolicy['conditions']> & Record<string, unknown>
type Actions = NonNullable<AnyPolicy['actions']>
interface MediaPolicy { actions?: Actions | undefined; conditions?: Record<string, unknown> | undefined }
interface MediaPolicies { callPolicy?: MediaPolicy; chatPolicy?: MediaPolicy; emailPolicy?: MediaPolicy; messagePolicy?: MediaPolicy }
interface TimeSlot { startTime?: string | undefined; stopTime?: string | undefined; day?: number | undefined }
interface TimeAllowed { timeSlots?: TimeSlot[] | undefined; timeZoneId?: string | undefined; empty?: boolean | undefined }
interface DurationCondition { durationOperator?: string | undefined; durationRange?: string | undefined; durationMode?: string | undefined }

/** What the store knows of a recording when it is ingested. */
export interface RecordingFacts {
  media: string | undefined
  userIds: ReadonlySet<string>
  /** startTime, or the ingest when it has none. */
  start: Date
  /** endTime − startTime, when both are given. */
  durationMs: number | undefined
}

/** Conditions this store has nothing to evaluate against: a policy using one applies to no recording. */
const NOT_EVALUABLE: Readonly<Record<string, string>> = {
  forQueues: 'queues', wrapupCodes: 'wrap-up codes', languages: 'languages', teams: 'teams', directions: 'call directions',
  customerParticipation: 'customer participation',
}

/** Whether a condition is given: empty lists and objects count as absent. */
const given = (value: unknown) =>
  value !== undefined && value !== null && (typeof value !== 'object' || Object.keys(value).length > 0)

const TIME = /^(?:([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,3}))?)?|(24):(00)(?::(00)(?:\.(0{1,3}))?)?)$/
/** `HH:mm[:ss[.SSS]]` as milliseconds into the day, or undefined. */
function timeOfDay(value: string | undefined, fallback: number): number | undefined {
  if (value === undefined) return fallback
  const match = TIME.exec(value)
  if (!match) return undefined
  const [h, m, s, ms] = match[1] === undefined ? [match[5], match[6], match[7], match[8]] : [match[1], match[2], match[3], match[4]]
  return ((Number(h) * 60 + Number(m)) * 60 + Number(s ?? 0)) * 1000 + Number((ms ?? '0').padEnd(3, '0'))
}

const ISO_DURATION = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/
/** An ISO-8601 duration (days and time parts) or a plain number of milliseconds, as milliseconds. */
function durationMs(value: string): number | undefined {
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text)
  const match = ISO_DURATION.exec(text)
  if (!match || text === 'P' || text.endsWith('T')) return undefined
  const [, d, h, m, s] = match
  return ((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(m ?? 0)) * 60_000 + Math.round(Number(s ?? 0) * 1000)
}

const OPERATOR_OF_MODE: Readonly<Record<string, string>> = { Over: 'GREATER_THAN', Under: 'LESS_THAN', Between: 'IN' }

/** A duration condition as a test on milliseconds, or why it cannot be one. */
function durationTest(condition: DurationCondition): ((ms: number) => boolean) | string {
  const operator = condition.durationOperator ?? (condition.durationMode === undefined ? undefined : OPERATOR_OF_MODE[condition.durationMode])
  const bounds = (condition.durationRange ?? '').split('/').map(durationMs)
  if (bounds.some((bound) => bound === undefined) || condition.durationRange === undefined) {
    return `durationRange ${JSON.stringify(condition.durationRange ?? null)} is not an ISO-8601 duration (PT5M), a min/max pair of them, nor milliseconds`
  }
  const [low = 0, high = 0] = bounds as number[]
  if (operator === 'GREATER_THAN' && bounds.length === 1) return (ms) => ms > low
  if (operator === 'LESS_THAN' && bounds.length === 1) return (ms) => ms < low
  if (operator === 'IN' && bounds.length === 2 && low <= high) return (ms) => ms >= low && ms <= high
  return `durationOperator ${JSON.stringify(operator ?? null)} with durationRange ${JSON.stringify(condition.durationRange)}: use GREATER_THAN or LESS_THAN with one duration, IN with min/max`
}

/** An ISO-8601 interval `start/end` of instants as [start, end), or undefined. */
function dateRange(value: string): [number, number] | undefined {
  const [from, to, ...rest] = value.split('/')
  const [start, end] = [Date.parse(from ?? ''), Date.parse(to ?? '')]
  return rest.length === 0 && Number.isFinite(start) && Number.isFinite(end) && start < end ? [start, end] : undefined
}

const WEEKDAYS: Readonly<Record<string, number>> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 }
const zoneFormats = new Map<string, Intl.DateTimeFormat>()
/** The ISO weekday and the milliseconds into the day of an instant in a time zone (undefined: unknown zone). */
function localTime(instant: Date, timeZone: string): { day: number; ms: number } | undefined {
  let format = zoneFormats.get(timeZone)
  if (!format) {
    try {
      format = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
    } catch {
      return undefined
    }
    if (zoneFormats.size < 1000) zoneFormats.set(timeZone, format)
  }
  const parts = Object.fromEntries(format.formatToParts(instant).map((part) => [part.type, part.value]))
  const day = WEEKDAYS[parts.weekday ?? '']
  if (day === undefined) return undefined
  return { day, ms: ((Number(parts.hour) * 60 + Number(parts.minute)) * 60 + Number(parts.second)) * 1000 + instant.getUTCMilliseconds() }
}

/** A time window as a test on an instant, or why it cannot be one. */
function timeTest(allowed: TimeAllowed): ((instant: Date) => boolean) | string {
  const slots = allowed.timeSlots ?? []
  if (allowed.empty === true || slots.length === 0) return () => true
  const zone = allowed.timeZoneId ?? 'UTC'
  if (!localTime(new Date(0), zone)) return `timeZoneId ${JSON.stringify(zone)} is not a time zone this store knows (IANA names, e.g. Europe/Berlin)`
  const windows: { day: number | undefined; from: number; to: number }[] = []
  for (const [index, slot] of slots.entries()) {
    const [from, to] = [timeOfDay(slot.startTime, 0), timeOfDay(slot.stopTime, DAY_MS)]
    if (from === undefined || to === undefined || from >= to) {
      return `timeSlots[${index}]: startTime and stopTime must be HH:mm[:ss[.SSS]] with startTime before stopTime`
    }
    windows.push({ day: slot.day, from, to })
  }
  return (instant) => {
    const local = localTime(instant, zone)
    return local !== undefined && windows.some((w) => (w.day === undefined || w.day === local.day) && local.ms >= w.from && local.ms < w.to)
  }
}

type Test = (facts: RecordingFacts) => boolean

/** The conditions at `path` as one test, and what in them cannot be evaluated. */
function compileConditions(conditions: Record<string, unknown> | undefined, path: string): { test: Test; problems: string[] } {
  const tests: Test[] = []
  const problems: string[] = []
  if (!conditions) return { test: () => true, problems }
  for (const [member, what] of Object.entries(NOT_EVALUABLE)) {
    if (given(conditions[member])) problems.push(`${path}.${member}: this store does not know the ${what} of recordings, so it cannot evaluate this condition`)
  }
  const users = conditions.forUsers as { id?: string }[] | undefined
  if (given(users)) {
    const ids = new Set((users ?? []).map((user) => user.id).filter((id): id is string => typeof id === 'string'))
    if (ids.size !== users?.length) problems.push(`${path}.forUsers: every user needs an id`)
    tests.push((facts) => [...facts.userIds].some((id) => ids.has(id)))
  }
  const mediaTypes = conditions.mediaTypes as string[] | undefined
  if (given(mediaTypes)) {
    const media = new Set((mediaTypes ?? []).flatMap((type) => MEDIA_OF_TYPE[type] ?? []))
    tests.push((facts) => facts.media !== undefined && media.has(facts.media))
  }
  const ranges = conditions.dateRanges as string[] | undefined
  if (given(ranges)) {
    const parsed = (ranges ?? []).map(dateRange)
    parsed.forEach((range, index) => {
      if (!range) problems.push(`${path}.dateRanges[${index}]: ${JSON.stringify(ranges?.[index])} is not an ISO-8601 interval of two instants (start/end, start first)`)
    })
    const valid = parsed.filter((range): range is [number, number] => range !== undefined)
    tests.push((facts) => valid.some(([start, end]) => facts.start.getTime() >= start && facts.start.getTime() < end))
  }
  if (given(conditions.timeAllowed)) {
    const test = timeTest(conditions.timeAllowed as TimeAllowed)
    if (typeof test === 'string') problems.push(`${path}.timeAllowed: ${test}`)
    else tests.push((facts) => test(facts.start))
  }
  if (given(conditions.duration)) {
    const test = durationTest(conditions.duration as DurationCondition)
    if (typeof test === 'string') problems.push(`${path}.duration: ${test}`)
    else tests.push((facts) => facts.durationMs !== undefined && test(facts.durationMs))
  }
  return { test: (facts) => tests.every((t) => t(facts)), problems }
}

/** What a matching rule does to a recording's dates; undefined: nothing (its actions say nothing about retention). */
interface Outcome { archiveDays: number | undefined; deleteDays: number | undefined; deleteNow: boolean }
function outcomeOf(actions: Actions | undefined): Outcome | undefined {
  if (!actions) return undefined
  const deleteNow = actions.alwaysDelete === true || (actions.deleteRecording === true && actions.retainRecording !== true)
  const duration = actions.retentionDuration
  if (!deleteNow && actions.retainRecording === undefined && actions.deleteRecording === undefined && duration === undefined) return undefined
  return {
    archiveDays: deleteNow ? undefined : duration?.archiveRetention?.days,
    deleteDays: deleteNow ? undefined : duration?.deleteRetention?.days,
    deleteNow,
  }
}

interface Rule { test: Test; outcome: Outcome | undefined }
interface CompiledPolicy {
  /** The rule for recordings of each media (`''`: no media). */
  ruleFor(media: string | undefined): Rule | undefined
  problems: string[]
}

/** A policy as rules, and the problems that keep it from applying. */
export function compilePolicy(policy: AnyPolicy): CompiledPolicy {
  const top = compileConditions(policy.conditions as Conditions | undefined, 'conditions')
  const problems = [...top.problems]
  const mediaPolicies = (policy.mediaPolicies ?? {}) as MediaPolicies
  const rules = new Map<string, Rule>()
  for (const key of ['callPolicy', 'chatPolicy', 'emailPolicy', 'messagePolicy'] as const) {
    const media = mediaPolicies[key]
    if (!media) continue
    const own = compileConditions(media.conditions, `mediaPolicies.${key}.conditions`)
    problems.push(...own.problems)
    rules.set(key, { test: (facts) => top.test(facts) && own.test(facts), outcome: outcomeOf(media.actions ?? policy.actions) })
  }
  const fallback: Rule = { test: top.test, outcome: outcomeOf(policy.actions) }
  return {
    ruleFor: (media) => {
      const key = media === undefined ? undefined : MEDIA_POLICY_OF[media]
      return (key && rules.get(key)) ?? fallback
    },
    problems,
  }
}

export interface PolicyDates { archiveDate: string | null; deleteDate: string | null }

/**
 * The dates the matching outcomes give a recording ingested at `creation`: the longest retention wins. The latest
 * archive date of those that archive; the latest delete date, unless one of them keeps the recording (no delete date),
 * which wins over every delete date. An archive date not before the delete date is dropped (deleted first).
 */
export function combineOutcomes(outcomes: Outcome[], creation: Date): PolicyDates | undefined {
  if (outcomes.length === 0) return undefined
  const at = (days: number) => creation.getTime() + days * DAY_MS
  const archives = outcomes.flatMap((o) => (o.archiveDays === undefined ? [] : [at(o.archiveDays)]))
  const keeps = outcomes.some((o) => !o.deleteNow && o.deleteDays === undefined)
  const deletes = outcomes.map((o) => (o.deleteNow ? creation.getTime() : at(o.deleteDays ?? 0)))
  const deleteAt = keeps ? undefined : Math.max(...deletes)
  let archiveAt = archives.length > 0 ? Math.max(...archives) : undefined
  if (archiveAt !== undefined && deleteAt !== undefined && archiveAt >= deleteAt) archiveAt = undefined
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString())
  return { archiveDate: iso(archiveAt), deleteDate: iso(deleteAt) }
}

export function factsOf(input: CreateRecording, creation: Date): RecordingFacts {
  const start = input.startTime ? new Date(input.startTime) : undefined
  const end = input.endTime ? new Date(input.endTime) : undefined
  return {
    media: input.media,
    userIds: new Set((input.users ?? []).map((user) => user.id).filter((id): id is string => typeof id === 'string')),
    start: start ?? creation,
    durationMs: start && end ? end.getTime() - start.getTime() : undefined,
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Storage and the API shapes.

/** The members the store sets: never stored from a body. */
const READ_ONLY = ['id', 'name', 'enabled', 'createdDate', 'modifiedDate', 'policyErrors', 'selfUri'] as const

function storedBody(input: AnyPolicy): Prisma.InputJsonObject {
  const body: Record<string, unknown> = { ...input }
  for (const member of READ_ONLY) delete body[member]
  return body as Prisma.InputJsonObject
}

const selfUri = (family: PolicyFamily, id: string) => `${POLICY_PATHS[family]}/${id}`

function toPolicy(row: PolicyRow, summary = false): AnyPolicy {
  const body = row.policy as Record<string, unknown>
  const dates = { createdDate: row.createdAt.toISOString(), modifiedDate: row.modifiedAt.toISOString() }
  const head = { id: row.id, name: row.name, enabled: row.enabled, ...dates, selfUri: selfUri(row.family, row.id) }
  if (summary) {
    const { description, order } = body as { description?: string; order?: number }
    return { ...head, ...(description === undefined ? {} : { description }), ...(order === undefined ? {} : { order }) }
  }
  return { ...(body as AnyPolicy), ...head, ...(row.policyErrors === null ? {} : { policyErrors: row.policyErrors as PolicyErrors }) }
}

/** The policyErrors of a body, as found when it is saved; undefined when there are none. */
function errorsOf(problems: string[], context: { correlationId: string; at: Date }): PolicyErrors | undefined {
  if (problems.length === 0) return undefined
  return {
    policyErrorMessages: problems.map((problem): PolicyErrorMessage => {
      const [field = '', ...rest] = problem.split(': ')
      return {
        statusCode: 400,
        errorCode: 'policy.condition.not.evaluable',
        userMessage: `${problem}. The policy applies to no recording until this is changed.`,
        userParamsMessage: `{field}: ${rest.join(': ')}. The policy applies to no recording until this is changed.`,
        userParams: [{ key: 'field', value: field }],
        correlationId: context.correlationId,
        insertDate: context.at.toISOString(),
      }
    }),
  }
}


const ORDER_BY = {
  name: [{ name: 'asc' }, { id: 'asc' }],
  dateCreated: [{ createdAt: 'asc' }, { id: 'asc' }],
  dateModified: [{ modifiedAt: 'asc' }, { id: 'asc' }],
} as const satisfies Record<NonNullable<PolicyListQuery['sortBy']>, Prisma.RetentionPolicyOrderByWithRelationInput[]>

export interface PolicyScope { organizationId: string; family: PolicyFamily }
/** Who saves: the request id goes into the policyErrors found. */
export interface SaveContext { correlationId: string }

/**
 * Media retention policies of both families (classic and cross-platform), and the dates they give recordings at
 * ingest. Policies never apply retroactively: only recordings ingested after a policy is saved get its dates.
 */
export function createRetentionPolicyService({ prisma }: { prisma: PrismaClient }) {
  type Cached = { until: number; policies: CompiledPolicy[] }
  const cache = new Map<string, Cached>()
  const forget = (organizationId: string) => cache.delete(organizationId)

  async function enabledPolicies(organizationId: string): Promise<CompiledPolicy[]> {
    const cached = cache.get(organizationId)
    if (cached && cached.until > Date.now()) return cached.policies
    const rows = await prisma.retentionPolicy.findMany({
      where: { organizationId, enabled: true, policyErrors: { equals: Prisma.DbNull } },
      select: { policy: true },
    })
    const policies = rows.map((row) => compilePolicy(row.policy as AnyPolicy)).filter((policy) => policy.problems.length === 0)
    // Organizations are few; the bound only keeps a flood of distinct ids from growing the map without end.
    if (cache.size >= 10_000) cache.clear()
    cache.set(organizationId, { until: Date.now() + POLICY_CACHE_MS, policies })
    return policies
  }

  async function find({ organizationId, family }: PolicyScope, policyId: string): Promise<PolicyRow> {
    const row = isUuid(policyId) ? await prisma.retentionPolicy.findFirst({ where: { id: policyId, organizationId, family } }) : null
    if (!row) throw new NotFoundError('Policy', policyId)
    return row
  }

  /** The columns a body sets, with the problems found in it. */
  function columnsOf(input: AnyPolicy, context: SaveContext, at: Date) {
    const policy = { ...input }
    delete policy.policyErrors
    const policyErrors = errorsOf(compilePolicy(policy).problems, { correlationId: context.correlationId, at })
    return {
      policy: storedBody(input),
      policyErrors: policyErrors === undefined ? Prisma.DbNull : (policyErrors as Prisma.InputJsonObject),
    }
  }

  return {
    /** Stores a new policy (disabled unless `enabled: true`), with the problems found in it as its policyErrors. */
    async create(scope: PolicyScope, input: AnyPolicy & { name: string }, context: SaveContext): Promise<AnyPolicy> {
      const now = new Date()
      const row = await prisma.retentionPolicy.create({
        data: {
          id: uuid7(), ...scope, name: input.name, enabled: input.enabled ?? false, ...columnsOf(input, context, now), createdAt: now, modifiedAt: now,
        },
      })
      forget(scope.organizationId)
      return toPolicy(row)
    },

    async list(scope: PolicyScope, query: PolicyListQuery): Promise<PolicyEntityListing> {
      const { pageSize = 25, pageNumber = 1, sortBy = 'dateCreated' } = query
      const where: Prisma.RetentionPolicyWhereInput = {
        ...scope,
        ...(query.name === undefined ? {} : { name: { contains: query.name, mode: 'insensitive' } }),
        ...(query.enabled === undefined ? {} : { enabled: query.enabled }),
        ...(query.hasErrors === undefined ? {} : { policyErrors: query.hasErrors ? { not: Prisma.DbNull } : { equals: Prisma.DbNull } }),
      }
      if (query.deleteDaysThreshold !== undefined) {
        // Any action of the policy (top-level or of a media policy) that deletes after more days than the threshold.
        const ids = await prisma.$queryRaw<{ id: string }[]>`SELECT id FROM retention_policies
          WHERE organization_id = ${scope.organizationId}::uuid AND family = ${scope.family}::"RetentionPolicyFamily"
            AND jsonb_path_exists(policy, 'strict $.**.retentionDuration.deleteRetention.days ? (@ > $t)', jsonb_build_object('t', ${query.deleteDaysThreshold}::int))`
        where.id = { in: ids.map((row) => row.id) }
      }
      const [rows, total] = await prisma.$transaction([
        prisma.retentionPolicy.findMany({ where, orderBy: [...ORDER_BY[sortBy]], skip: (pageNumber - 1) * pageSize, take: pageSize }),
        prisma.retentionPolicy.count({ where }),
      ])
      const echo = {
        sortBy: query.sortBy, name: query.name, enabled: query.enabled?.toString(), summary: query.summary ? 'true' : undefined,
        hasErrors: query.hasErrors?.toString(), deleteDaysThreshold: query.deleteDaysThreshold?.toString(),
      }
      return {
        entities: rows.map((row) => toPolicy(row, query.summary === true)),
        ...pageLinks(POLICY_PATHS[scope.family], echo, pageSize, pageNumber, total),
      }
    },

    async get(scope: PolicyScope, policyId: string): Promise<AnyPolicy> {
      return toPolicy(await find(scope, policyId))
    },

    /** Replaces the policy with the body (name absent: kept; enabled absent: false), its policyErrors found anew. */
    async replace(scope: PolicyScope, policyId: string, input: AnyPolicy, context: SaveContext): Promise<AnyPolicy> {
      const current = await find(scope, policyId)
      const now = new Date()
      const row = await prisma.retentionPolicy.update({
        where: { id: current.id },
        data: { name: input.name ?? current.name, enabled: input.enabled ?? false, ...columnsOf(input, context, now), modifiedAt: now },
      })
      forget(scope.organizationId)
      return toPolicy(row)
    },

    /** Sets `enabled` (absent: unchanged). */
    async update(scope: PolicyScope, policyId: string, input: PolicyUpdate): Promise<AnyPolicy> {
      const current = await find(scope, policyId)
      if (input.enabled === undefined) return toPolicy(current)
      const row = await prisma.retentionPolicy.update({ where: { id: current.id }, data: { enabled: input.enabled, modifiedAt: new Date() } })
      forget(scope.organizationId)
      return toPolicy(row)
    },

    async remove(scope: PolicyScope, policyId: string): Promise<void> {
      const current = await find(scope, policyId)
      await prisma.retentionPolicy.deleteMany({ where: { id: current.id } })
      forget(scope.organizationId)
    },

    /** Deletes the listed policies of the scope; ids that are not among them are skipped. Answers how many went. */
    async removeMany(scope: PolicyScope, ids: string): Promise<number> {
      const wanted = [...new Set(ids.split(',').map((id) => id.trim()).filter(isUuid))]
      if (wanted.length === 0) return 0
      const { count } = await prisma.retentionPolicy.deleteMany({ where: { ...scope, id: { in: wanted } } })
      forget(scope.organizationId)
      return count
    },

    /**
     * The archive and delete dates the organization's enabled policies (both families) give a recording ingested at
     * `creation`, or undefined when none of them matches it. Read at most every POLICY_CACHE_MS per instance.
     */
    async datesFor(organizationId: string, input: CreateRecording, creation: Date): Promise<PolicyDates | undefined> {
      const policies = await enabledPolicies(organizationId)
      if (policies.length === 0) return undefined
      const facts = factsOf(input, creation)
      const outcomes = policies.flatMap((policy) => {
        const rule = policy.ruleFor(facts.media)
        return rule?.outcome && rule.test(facts) ? [rule.outcome] : []
      })
      return combineOutcomes(outcomes, creation)
    },
  }
}

export type RetentionPolicyService = ReturnType<typeof createRetentionPolicyService>
