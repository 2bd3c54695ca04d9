import { createHash } from 'node:crypto'
import type { FileState, Prisma, PrismaClient } from '../generated/prisma/client.js'
import { REQUIRES } from '../auth/permissions.js'
import { DomainError, ForbiddenError, InvalidRequestError, NotFoundError, PreconditionFailedError } from '../errors.js'
import type {
  ChatMessage, CreateRecording, EmailMessage, GetRecordingQuery, ListRecordingsQuery, MediaFormat, Recording, UpdateRecording,
} from '../schemas/recording.js'
import { compact, recordingSelfUri, toStoredUser } from './recording-mapper.js'
import { applyView, withScreenPauses } from './recording-view.js'
import { isUuid, recordingNotFound as notFound, recordingWhere as whereKey, type RecordingKey } from './recording-key.js'
import {
  ingestedColumns, insertRecording, selectMetadata, selectMetadataList, selectRecording, selectRecordings, type Formats, type IngestRows,
} from './recording-sql.js'
import { v7 as uuid7 } from 'uuid'
import { assertIfMatch, recordingETag, type IfMatch } from './etag.js'
import type { HeldClaim } from './idempotency-service.js'
import type { PlaybackUrls } from './media-urls.js'
import type { RenditionService } from './rendition-service.js'
import { assertDeleteDateKept, DeletionProtectedError, isDeletionProtected } from './deletion-protection-service.js'
import type { RetentionPolicyService } from './retention-policy-service.js'
import type { SqlReader } from '../plugins/prisma.js'

/** Media whose content is the transcript itself: stored complete on ingest. */
const TRANSCRIPT_MEDIA = new Set(['chat', 'email', 'messaging'])

const dateOf = (value: string | null | undefined) => (value ? new Date(value) : null)

function assertRetentionOrder(archiveDate: Date | null, deleteDate: Date | null) {
  if (archiveDate && deleteDate && deleteDate < archiveDate) {
    throw new InvalidRequestError('deleteDate must not be before archiveDate', 'deleteDate')
  }
}

type Retention = { archiveDate: Date | null; deleteDate: Date | null }

/** A retention date in the past is refused unless it is the value already stored (clients echo what they read). */
function assertRetentionNotPast(next: Retention, stored: Retention = { archiveDate: null, deleteDate: null }) {
  const now = Date.now()
  for (const field of ['archiveDate', 'deleteDate'] as const) {
    const date = next[field]
    if (date && date.getTime() < now && date.getTime() !== stored[field]?.getTime()) {
      throw new InvalidRequestError(`${field} must not be in the past`, field)
    }
  }
}

/** 409: the organization has no restorations left (recording settings, maxAllowedRestorationsForOrg). */
export class RestorationsExhaustedError extends DomainError {
  constructor(maxAllowed: number) {
    super(409, 'recording.restorations.exhausted',
      `The organization has used all of its restorations of archived recordings (maxAllowedRestorationsForOrg ${maxAllowed}, remainingRestorationsAllowedForOrg 0)`)
  }
}

/**
 * Takes one of the organization's restorations, or throws RestorationsExhaustedError. One conditional UPDATE: the
 * row lock orders concurrent restores, each re-checking what is left, so the count never goes below zero.
 */
async function takeRestoration(tx: Prisma.TransactionClient, organizationId: string): Promise<void> {
  await tx.$executeRaw`INSERT INTO recording_settings (organization_id) VALUES (${organizationId}::uuid) ON CONFLICT (organization_id) DO NOTHING`
  const taken = await tx.$executeRaw`UPDATE recording_settings SET remaining_restorations_allowed_for_org = remaining_restorations_allowed_for_org - 1
    WHERE organization_id = ${organizationId}::uuid AND remaining_restorations_allowed_for_org > 0`
  if (taken === 0) {
    const { maxAllowedRestorationsForOrg } = await tx.recordingSettings.findUniqueOrThrow({ where: { organizationId }, select: { maxAllowedRestorationsForOrg: true } })
    throw new RestorationsExhaustedError(maxAllowedRestorationsForOrg)
  }
}

/**
 * Nothing is playable until media is attached, except for chats, e-mails and messaging, whose transcript is the
 * content.
 */
function initialFileState(input: CreateRecording): FileState {
  const hasMedia = Object.keys(input.mediaUris ?? {}).length > 0
  return hasMedia || TRANSCRIPT_MEDIA.has(input.media ?? '') ? 'AVAILABLE' : 'UPLOADING'
}

/** An ISO instant as `Date#toISOString()` writes it (what the column keeps: UTC, milliseconds), or null. */
const isoInstant = (value: string | null | undefined) => (value ? new Date(value).toISOString() : null)

type EmailAddress = NonNullable<EmailMessage['from']>
type EmailAttachment = NonNullable<EmailMessage['attachments']>[number]
type ChatMessageUser = NonNullable<ChatMessage['user']>

// What the response schema shows of these nested objects is all that is stored of them, so reads can send the stored
// jsonb as it is (the object path's serializer drops other members; the SQL path would not).
const emailAddress = (a: EmailAddress) => compact({ email: a.email, name: a.name })
const emailAttachment = (a: EmailAttachment) =>
  compact({ name: a.name, contentPath: a.contentPath, contentType: a.contentType, attachmentId: a.attachmentId, contentLength: a.contentLength })
const chatUser = (u: ChatMessageUser) =>
  compact({
    id: u.id,
    name: u.name,
    displayName: u.displayName,
    username: u.username,
    images: u.images?.map((image) => compact({ resolution: image.resolution, imageUri: image.imageUri })),
  })

/** The rows of one ingest, with fresh ids; the checks the body schema cannot express are made here. */
function ingestRows(organizationId: string, conversationId: string, input: CreateRecording): IngestRows {
  const retention = { archiveDate: dateOf(input.archiveDate), deleteDate: dateOf(input.deleteDate) }
  assertRetentionOrder(retention.archiveDate, retention.deleteDate)
  assertRetentionNotPast(retention)
  const recordingId = uuid7()
  const startTime = isoInstant(input.startTime)
  return {
    recording: {
      ...ingestedColumns(input),
      id: recordingId,
      organization_id: organizationId,
      conversation_id: conversationId,
      archive_date: isoInstant(input.archiveDate),
      delete_date: isoInstant(input.deleteDate),
      file_state: initialFileState(input),
      original_recording_start_time: startTime,
      associated_conversation_ids: input.associatedConversationIds ?? [],
    },
    annotations: (input.annotations ?? []).map((annotation) => ({
      id: uuid7(),
      recording_id: recordingId,
      name: annotation.name,
      type: annotation.type,
      location: annotation.location,
      duration_ms: annotation.durationMs,
      absolute_location: annotation.absoluteLocation,
      absolute_duration_ms: annotation.absoluteDurationMs,
      recording_location: annotation.recordingLocation,
      recording_duration_ms: annotation.recordingDurationMs,
      realtime_location: annotation.realtimeLocation,
      user: annotation.user ? toStoredUser(annotation.user) : undefined,
      description: annotation.description,
      reason: annotation.reason,
    })),
    chatMessages: (input.transcript ?? []).map((m, ordinal) => ({
      recording_id: recordingId,
      ordinal,
      message_id: m.id,
      body: m.body,
      to: m.to,
      from: m.from,
      utc: m.utc,
      chat: m.chat,
      message: m.message,
      type: m.type,
      body_type: m.bodyType,
      sender_communication_id: m.senderCommunicationId,
      participant_purpose: m.participantPurpose,
      user: m.user && chatUser(m.user),
    })),
    emailMessages: (input.emailTranscript ?? []).map((m, ordinal) => ({
      recording_id: recordingId,
      ordinal,
      message_id: m.id,
      subject: m.subject,
      text_body: m.textBody,
      html_body: m.htmlBody,
      from: m.from && emailAddress(m.from),
      to: m.to?.map(emailAddress),
      cc: m.cc?.map(emailAddress),
      bcc: m.bcc?.map(emailAddress),
      reply_to: m.replyTo && emailAddress(m.replyTo),
      attachments: m.attachments?.map(emailAttachment),
      time: isoInstant(m.time),
    })),
    messagingMessages: (input.messagingTranscript ?? []).map((m, ordinal) => ({
      recording_id: recordingId,
      ordinal,
      message_id: m.id,
      timestamp: isoInstant(m.timestamp),
      from: m.from,
      purpose: m.purpose,
      content_type: m.contentType,
      message_text: m.messageText,
      data: m,
    })),
    mediaResults: Object.entries(input.mediaUris ?? {}).map(([key, media]) => ({
      recording_id: recordingId,
      key,
      media_uri: media.mediaUri,
      waveform_data: media.waveformData ?? [],
    })),
    users: (input.users ?? []).map((user, ordinal) => ({
      recording_id: recordingId,
      organization_id: organizationId,
      ordinal,
      user_id: user.id,
      name: user.name,
      username: user.username,
      email: user.email,
      division_id: user.division?.id,
      division_name: user.division?.name,
    })),
  }
}

/** A response body: PostgreSQL's JSON text, sent as it is, or an object that the route's schema serializes. */
export type Body<T> = { json: string } | { value: T }

type ViewOptions = GetRecordingQuery & ListRecordingsQuery

/** Genesys: the default format of media in answers. */
export const DEFAULT_FORMAT: MediaFormat = 'WEBM'

/**
 * The formats stored media is wanted in, as the options ask: `mediaFormats` (any of them) over `formatId` (default
 * WEBM); NONE: none; `download=true`: the media as stored, unchanged.
 */
export function wantedFormats(o: Partial<ViewOptions>): Formats {
  if (o.mediaFormats?.length) return o.mediaFormats
  if (o.download === true) return null
  if (o.formatId === 'NONE') return []
  return [o.formatId ?? DEFAULT_FORMAT]
}

/** Whether applyView / withScreenPauses would change anything beyond what the SQL already does. */
const changesContent = (o: ViewOptions) =>
  o.formatId === 'NONE' || (o.mediaFormats?.length ?? 0) > 0 || o.chatFormatId === 'NONE' || o.emailFormatId === 'NONE' ||
  o.messageFormatId === 'NONE' || o.includePauseAnnotationsForScreenRecordings === true

/**
 * The variant part of a recording's ETag: the options that change the content, hashed. Options that change nothing
 * (download, locale, ...) share the plain representation's ETag.
 */
function variantOf(o: GetRecordingQuery, formats: Formats): string | undefined {
  const plain = formats?.length === 1 && formats[0] === DEFAULT_FORMAT && !changesContent(o)
  return plain
    ? undefined
    : createHash('sha256')
        .update(JSON.stringify([formats, o.mediaFormats ?? [], o.chatFormatId === 'NONE', o.emailFormatId === 'NONE', o.messageFormatId === 'NONE']))
        .digest('base64url')
        .slice(0, 12)
}

/** Whether an answer waits for its media or says it failed (part of its ETag). */
const mediaState = (found: { pending: boolean; failed: boolean }) => (found.pending ? 'pending' : found.failed ? 'failed' : undefined)

/**
 * Whether a retention PUT only restores: an archived (or restored) recording gets a later archiveDate, its deleteDate
 * as stored, no export cancelled. That is what the restore permissions allow without the edit ones.
 */
function isRestore(
  current: { fileState: FileState; deleteDate: Date | null },
  change: { archiveDate: Date | null; deleteDate: Date | null; clearExport?: boolean | undefined },
): boolean {
  const archived = current.fileState === 'ARCHIVED' || current.fileState === 'RESTORING' || current.fileState === 'RESTORED'
  return archived && change.archiveDate !== null && change.archiveDate.getTime() > Date.now() &&
    change.deleteDate?.getTime() === current.deleteDate?.getTime() && !change.clearExport
}

const changed = (key: RecordingKey) => new PreconditionFailedError(`If-Match: recording ${key.recordingId} has changed`)

/** The deletion protection trigger's refusal as a 409; any other error as it is. */
const refuseProtected = (key: RecordingKey) => (error: unknown): never => {
  throw isDeletionProtected(error) ? new DeletionProtectedError(key.conversationId, `recording ${key.recordingId} cannot be deleted`) : error
}

/** The ETag of an answer: its version, the options that narrowed it, and the expiry of the playback URLs in it. */

export function createRecordingService({ prisma, reader = prisma, playback, renditions, retentionPolicies }: {
  prisma: PrismaClient
  /** Where the hot reads (a recording, a conversation's recordings, their metadata) run: the driver under prisma. */
  reader?: PrismaClient | SqlReader
  playback: PlaybackUrls
  renditions: RenditionService
  /** The organization's media retention policies: they date recordings ingested without dates. */
  retentionPolicies?: Pick<RetentionPolicyService, 'datesFor'>
}) {
  /** The recording JSON with the options' view applied and playback URLs in place of the marks of stored media. */
  async function present<T>(json: string, options: ViewOptions, organizationId: string, view: (parsed: T) => T) {
    const viewed = changesContent(options) ? JSON.stringify(view(JSON.parse(json) as T)) : json
    return playback.resolve(viewed, await playback.ttlMinutes(organizationId))
  }

  return {
    /**
     * Stores a recording with all its children in one statement (one multi-row insert per table; a statement is a
     * transaction), which also answers the stored recording.
     */
    async create(
      organizationId: string,
      conversationId: string,
      input: CreateRecording,
      answer?: { key: HeldClaim; statusCode: number; contentType: string },
    ): Promise<{ id: string; selfUri: string; json: string; etag: string }> {
      if (input.conversationId !== undefined && input.conversationId !== conversationId) {
        throw new InvalidRequestError(`conversationId in the body (${input.conversationId}) differs from the path (${conversationId})`, 'conversationId')
      }
      const rows = ingestRows(organizationId, conversationId, input)
      if (retentionPolicies && rows.recording.archive_date === null && rows.recording.delete_date === null) {
        // Only an ingest without dates: dates a producer gives are kept, whatever the policies say.
        const dates = await retentionPolicies.datesFor(organizationId, input, new Date())
        if (dates) Object.assign(rows.recording, { archive_date: dates.archiveDate, delete_date: dates.deleteDate })
      }
      const selfUri = recordingSelfUri(conversationId, rows.recording.id)
      const stored = answer && { key: answer.key, statusCode: answer.statusCode, headers: { 'content-type': answer.contentType, location: selfUri } }
      const { json, version, restorations } = await insertRecording(prisma, rows, stored)
      return { id: rows.recording.id, selfUri, json, etag: recordingETag(version, { restorations }) }
    },

    /**
     * Every recording of a conversation, oldest first, with its stored media in the wanted format. Renditions still to
     * be made are asked for, and waited for up to `maxWaitMs` (default 5 s, at most MAX_WAIT_MS); `ready` is false when
     * some are still being made then (their recordings have no mediaUris yet). A conversation without recordings is
     * unknown here.
     */
    async listByConversation(organizationId: string, conversationId: string, options: ListRecordingsQuery = {}): Promise<{ body: Body<Recording[]>; ready: boolean }> {
      const formats = wantedFormats(options)
      let selected = await selectRecordings(reader, organizationId, conversationId, formats)
      if (selected === undefined) throw new NotFoundError('Conversation', conversationId, ' (it has no recordings)')
      const [format] = formats ?? []
      if (selected.pending.length > 0 && format) {
        const wanted = selected.pending.map((recordingId) => ({ recordingId, format }))
        await renditions.request(wanted)
        if (await renditions.settle(wanted, options.maxWaitMs ?? 5000)) {
          selected = (await selectRecordings(reader, organizationId, conversationId, formats)) ?? { json: '[]', pending: [] }
        }
      }
      const { json } = await present<Recording[]>(selected.json, options, organizationId, (recordings) => {
        const viewed = recordings.map((recording) => applyView(recording, options))
        return options.includePauseAnnotationsForScreenRecordings ? withScreenPauses(viewed) : viewed
      })
      return { body: { json }, ready: selected.pending.length === 0 }
    },

    /**
     * One recording, with its stored media in the wanted format. `ready` is false while its media is still uploading,
     * or being made into that format (asked for here when it is not yet): Genesys answers 202 then, without mediaUris.
     */
    async get(key: RecordingKey, options: GetRecordingQuery = {}): Promise<{ body: Body<Recording>; ready: boolean; etag: string }> {
      const formats = wantedFormats(options)
      const found = isUuid(key.recordingId) ? await selectRecording(reader, key, formats) : undefined
      if (!found) throw notFound(key)
      const [format] = formats ?? []
      if (found.pending && format) await renditions.request([{ recordingId: key.recordingId, format }])
      const { json, expires } = await present<Recording>(found.json, options, key.organizationId, (recording) => applyView(recording, options))
      return {
        body: { json },
        ready: !found.uploading && !found.pending,
        etag: recordingETag(found.version, { variant: variantOf(options, formats), expires, restorations: found.restorations, media: mediaState(found) }),
      }
    },

    /** Metadata of every recording of a conversation (no transcripts, media or system annotations), as JSON text. */
    async listMetadata(organizationId: string, conversationId: string): Promise<string> {
      const json = await selectMetadataList(reader, organizationId, conversationId)
      if (json === undefined) throw new NotFoundError('Conversation', conversationId, ' (it has no recordings)')
      return json
    },

    /** Metadata of one recording, as JSON text. */
    async getMetadata(key: RecordingKey): Promise<string> {
      const json = isUuid(key.recordingId) ? await selectMetadata(reader, key) : undefined
      if (json === undefined) throw notFound(key)
      return json
    },

    /**
     * Genesys PUT semantics: only the retention dates are applied (absent or null clears one), plus `clearExport`.
     * A date in the past is refused unless it is the value already stored (clients echo what they read). Answers the
     * updated recording as JSON text, and the dates now stored. With `ifMatch`, the version checked is the one
     * overwritten (compare-and-set), so of two writers holding the same ETag only one succeeds.
     */
    async updateRetention(
      key: RecordingKey,
      input: UpdateRecording,
      options: { clearExport?: boolean; ifMatch?: IfMatch; canEditRetention?: boolean } = {},
    ): Promise<{ json: string; etag: string; archiveDate: Date | null; deleteDate: Date | null }> {
      const where = whereKey(key)
      if (!where) throw notFound(key)
      const archiveDate = dateOf(input.archiveDate)
      const deleteDate = dateOf(input.deleteDate)
      assertRetentionOrder(archiveDate, deleteDate)
      return prisma.$transaction(async (tx) => {
        const current = await tx.recording.findFirst({ where, select: { id: true, fileState: true, archiveDate: true, deleteDate: true, version: true } })
        if (!current) throw notFound(key)
        assertIfMatch(options.ifMatch, current.version.toString(), `recording ${key.recordingId}`)
        if (options.canEditRetention === false && !isRestore(current, { archiveDate, deleteDate, clearExport: options.clearExport })) {
          throw new ForbiddenError(`Missing permission: only restoring archived media (a later archiveDate, deleteDate unchanged) is allowed without one of ${REQUIRES.editRetention.join(', ')}`)
        }
        await assertDeleteDateKept(tx, key, deleteDate, current.deleteDate)
        assertRetentionNotPast({ archiveDate, deleteDate }, current)
        const data: Prisma.RecordingUpdateManyMutationInput = { archiveDate, deleteDate, ...(options.clearExport ? { exportDate: null } : {}) }
        if (current.fileState === 'ARCHIVED' && archiveDate !== null && archiveDate.getTime() > Date.now()) {
          // A later archive date restores archived media until then: RESTORING while the media.restore job copies the
          // bytes back (queued in this transaction, so a restore is never counted without its copy, nor the reverse),
          // RESTORED at once when there are no stored bytes.
          await takeRestoration(tx, key.organizationId)
          const stored = await tx.storedMedia.findUnique({ where: { recordingId: current.id }, select: { storageKey: true } })
          if (stored) {
            await tx.$executeRaw`SELECT graphile_worker.add_job('media.restore', json_build_object('storageKey', ${stored.storageKey}::text), max_attempts => 25)`
          }
          Object.assign(data, { fileState: stored ? 'RESTORING' : 'RESTORED', restoreExpirationTime: archiveDate })
        } else if ((current.fileState === 'RESTORING' || current.fileState === 'RESTORED') && archiveDate !== null) {
          // Restored media stays until its archive date, moved or not; no other restoration is counted.
          data.restoreExpirationTime = archiveDate
        }
        const { count } = await tx.recording.updateMany({
          where: { id: current.id, ...(Array.isArray(options.ifMatch) ? { version: current.version } : {}) },
          data,
        })
        if (count === 0) throw Array.isArray(options.ifMatch) ? changed(key) : notFound(key)
        // The answer is what GET answers (no mediaUris while the media is uploading), read in the same transaction.
        const written = await selectRecording(tx, key)
        if (!written) throw new Error(`recording ${key.recordingId} not readable in the transaction that updated it`)
        return { written, archiveDate, deleteDate }
      }).then(async ({ written, archiveDate, deleteDate }) => {
        const { json, expires } = await playback.resolve(written.json, await playback.ttlMinutes(key.organizationId))
        return { json, etag: recordingETag(written.version, { expires, restorations: written.restorations }), archiveDate, deleteDate }
      })
    },

    /** Deletes a recording; its children go with it (ON DELETE CASCADE). With `ifMatch`, only the version checked. */
    async remove(key: RecordingKey, ifMatch?: IfMatch): Promise<void> {
      const where = whereKey(key)
      if (!where) throw notFound(key)
      if (ifMatch === undefined) {
        const { count } = await prisma.recording.deleteMany({ where }).catch(refuseProtected(key))
        if (count === 0) throw notFound(key)
        return
      }
      const current = await prisma.recording.findFirst({ where, select: { version: true } })
      if (!current) throw notFound(key)
      assertIfMatch(ifMatch, current.version.toString(), `recording ${key.recordingId}`)
      const { count } = await prisma.recording.deleteMany({ where: { ...where, version: current.version } }).catch(refuseProtected(key))
      if (count === 0) throw changed(key)
    },
  }
}

export type RecordingService = ReturnType<typeof createRecordingService>
