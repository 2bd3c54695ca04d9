import type { FileState, Prisma, PrismaClient } from '../generated/prisma/client.js'
import { InvalidRequestError, NotFoundError } from '../errors.js'
import type {
  CreateRecording, GetRecordingQuery, IngestAnnotation, ListRecordingsQuery, Recording, RecordingMetadata, UpdateRecording,
} from '../schemas/recording.js'
import { compact, metadataInclude, recordingInclude, toRecording, toRecordingMetadata, toStoredUser } from './recording-mapper.js'
import { applyView, withScreenPauses } from './recording-view.js'
import { recordingNotFound as notFound, recordingWhere as whereKey, type RecordingKey } from './recording-key.js'
/** Media whose content is the transcript itself: stored complete on ingest. */
const TRANSCRIPT_MEDIA = new Set(['chat', 'email', 'messaging'])

const date = (value: string | null | undefined) => (value ? new Date(value) : null)
const bigint = (value: number | undefined) => (value === undefined ? undefined : BigInt(value))

function assertRetentionOrder(archiveDate: Date | null, deleteDate: Date | null) {
  if (archiveDate && deleteDate && deleteDate < archiveDate) {
    throw new InvalidRequestError('deleteDate must not be before archiveDate', 'deleteDate')
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

function annotationData(annotation: IngestAnnotation): Prisma.AnnotationCreateWithoutRecordingInput {
  return {
    name: annotation.name,
    type: annotation.type,
    location: bigint(annotation.location),
    durationMs: bigint(annotation.durationMs),
    absoluteLocation: bigint(annotation.absoluteLocation),
    absoluteDurationMs: bigint(annotation.absoluteDurationMs),
    recordingLocation: bigint(annotation.recordingLocation),
    recordingDurationMs: bigint(annotation.recordingDurationMs),
    realtimeLocation: bigint(annotation.realtimeLocation),
    user: annotation.user ? toStoredUser(annotation.user) : undefined,
    description: annotation.description,
    reason: annotation.reason,
  }
}

function recordingData(organizationId: string, conversationId: string, input: CreateRecording): Prisma.RecordingCreateInput {
  const archiveDate = date(input.archiveDate)
  const deleteDate = date(input.deleteDate)
  assertRetentionOrder(archiveDate, deleteDate)
  const startTime = date(input.startTime)
  return {
    organization: { connect: { id: organizationId } },
    conversationId,
    name: input.name,
    path: input.path,
    startTime,
    endTime: date(input.endTime),
    media: input.media,
    mediaSubtype: input.mediaSubtype,
    mediaSubject: input.mediaSubject,
    fileState: initialFileState(input),
    estimatedTranscodeTimeMs: bigint(input.estimatedTranscodeTimeMs),
    actualTranscodeTimeMs: bigint(input.actualTranscodeTimeMs),
    archiveDate,
    deleteDate,
    outputDurationMs: input.outputDurationMs,
    outputSizeInBytes: input.outputSizeInBytes,
    sessionId: input.sessionId,
    recordingFileRole: input.recordingFileRole,
    originalRecordingStartTime: startTime,
    associatedConversationIds: input.associatedConversationIds ?? [],
    annotations: { create: (input.annotations ?? []).map(annotationData) },
    chatMessages: {
      create: (input.transcript ?? []).map((m, ordinal) => ({
        ordinal,
        messageId: m.id,
        body: m.body,
        to: m.to,
        from: m.from,
        utc: m.utc,
        chat: m.chat,
        message: m.message,
        type: m.type,
        bodyType: m.bodyType,
        senderCommunicationId: m.senderCommunicationId,
        participantPurpose: m.participantPurpose,
        user: m.user ? compact({ id: m.user.id, name: m.user.name, displayName: m.user.displayName, username: m.user.username, images: m.user.images }) : undefined,
      })),
    },
    emailMessages: {
      create: (input.emailTranscript ?? []).map((m, ordinal) => ({
        ordinal,
        messageId: m.id,
        subject: m.subject,
        textBody: m.textBody,
        htmlBody: m.htmlBody,
        from: m.from,
        to: m.to,
        cc: m.cc,
        bcc: m.bcc,
        replyTo: m.replyTo,
        attachments: m.attachments,
        time: date(m.time),
      })),
    },
    messagingMessages: {
      create: (input.messagingTranscript ?? []).map((m, ordinal) => ({
        ordinal,
        messageId: m.id,
        timestamp: date(m.timestamp),
        from: m.from,
        purpose: m.purpose,
        contentType: m.contentType,
        messageText: m.messageText,
        data: m as Prisma.InputJsonObject,
      })),
    },
    mediaResults: {
      create: Object.entries(input.mediaUris ?? {}).map(([key, media]) => ({
        key,
        mediaUri: media.mediaUri,
        waveformData: media.waveformData ?? [],
      })),
    },
    users: {
      create: (input.users ?? []).map((user, ordinal) => ({
        ordinal,
        organizationId,
        userId: user.id,
        name: user.name,
        username: user.username,
        email: user.email,
        divisionId: user.division?.id,
        divisionName: user.division?.name,
      })),
    },
  }
}

export function createRecordingService({ prisma }: { prisma: PrismaClient }) {
  return {
    /** Stores a recording with all its children in one transaction. */
    async create(organizationId: string, conversationId: string, input: CreateRecording): Promise<Recording> {
      if (input.conversationId !== undefined && input.conversationId !== conversationId) {
        throw new InvalidRequestError(`conversationId in the body (${input.conversationId}) differs from the path (${conversationId})`, 'conversationId')
      }
      const row = await prisma.recording.create({
        data: recordingData(organizationId, conversationId, input),
        include: recordingInclude,
      })
      return toRecording(row)
    },

    /** Every recording of a conversation, oldest first. A conversation without recordings is unknown here. */
    async listByConversation(organizationId: string, conversationId: string, options: ListRecordingsQuery = {}): Promise<Recording[]> {
      const rows = await prisma.recording.findMany({
        where: { organizationId, conversationId },
        include: recordingInclude,
        orderBy: [{ creationTime: 'asc' }, { id: 'asc' }],
      })
      if (rows.length === 0) throw new NotFoundError('Conversation', conversationId, ' (it has no recordings)')
      const recordings = rows.map((row) => applyView(toRecording(row), options))
      return options.includePauseAnnotationsForScreenRecordings ? withScreenPauses(recordings) : recordings
    },

    /** One recording; `ready` is false while its media is still uploading (Genesys answers 202 then). */
    async get(key: RecordingKey, options: GetRecordingQuery = {}): Promise<{ recording: Recording; ready: boolean }> {
      const where = whereKey(key)
      const row = where && (await prisma.recording.findFirst({ where, include: recordingInclude }))
      if (!row) throw notFound(key)
      return { recording: applyView(toRecording(row), options), ready: row.fileState !== 'UPLOADING' }
    },

    /** Metadata of every recording of a conversation (no transcripts, media or system annotations). */
    async listMetadata(organizationId: string, conversationId: string): Promise<RecordingMetadata[]> {
      const rows = await prisma.recording.findMany({
        where: { organizationId, conversationId },
        include: metadataInclude,
        orderBy: [{ creationTime: 'asc' }, { id: 'asc' }],
      })
      if (rows.length === 0) throw new NotFoundError('Conversation', conversationId, ' (it has no recordings)')
      return rows.map(toRecordingMetadata)
    },

    async getMetadata(key: RecordingKey): Promise<RecordingMetadata> {
      const where = whereKey(key)
      const row = where && (await prisma.recording.findFirst({ where, include: metadataInclude }))
      if (!row) throw notFound(key)
      return toRecordingMetadata(row)
    },

    /**
     * Genesys PUT semantics: only the retention dates are applied (absent or null clears one), plus `clearExport`.
     * A date in the past is refused unless it is the value already stored (clients echo what they read).
     */
    async updateRetention(key: RecordingKey, input: UpdateRecording, options: { clearExport?: boolean } = {}): Promise<Recording> {
      const where = whereKey(key)
      if (!where) throw notFound(key)
      const archiveDate = date(input.archiveDate)
      const deleteDate = date(input.deleteDate)
      assertRetentionOrder(archiveDate, deleteDate)
      const row = await prisma.$transaction(async (tx) => {
        const current = await tx.recording.findFirst({ where, select: { id: true, fileState: true, archiveDate: true, deleteDate: true } })
        if (!current) throw notFound(key)
        const now = Date.now()
        for (const [field, next, stored] of [
          ['archiveDate', archiveDate, current.archiveDate],
          ['deleteDate', deleteDate, current.deleteDate],
        ] as const) {
          if (next && next.getTime() < now && next.getTime() !== stored?.getTime()) {
            throw new InvalidRequestError(`${field} must not be in the past`, field)
          }
        }
        // Moving the archive date of archived media restores it until that date.
        const restore = current.fileState === 'ARCHIVED' && archiveDate !== null && archiveDate.getTime() !== current.archiveDate?.getTime()
        return tx.recording.update({
          where: { id: current.id },
          data: {
            archiveDate,
            deleteDate,
            ...(options.clearExport ? { exportDate: null } : {}),
            ...(restore ? { fileState: 'RESTORED', restoreExpirationTime: archiveDate } : {}),
          },
          include: recordingInclude,
        })
      })
      return toRecording(row)
    },

    /** Deletes a recording; its children go with it (ON DELETE CASCADE). */
    async remove(key: RecordingKey): Promise<void> {
      const where = whereKey(key)
      const { count } = where ? await prisma.recording.deleteMany({ where }) : { count: 0 }
      if (count === 0) throw notFound(key)
    },
  }
}

export type RecordingService = ReturnType<typeof createRecordingService>
