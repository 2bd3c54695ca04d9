// The wire shape written a second way, for the tests only: Prisma reads the rows, and these functions map them to
// the Recording and RecordingMetadata objects that the route schemas serialize. The service answers with JSON that
// PostgreSQL builds (src/services/recording-sql.ts); test/routes/recording-sql.test.ts holds it to this.
import type { Prisma } from '../src/generated/prisma/client.js'
import {
  RecordingMetadataSchema, type ChatMessage, type EmailMessage, type MessagingMessage, type Recording, type RecordingMetadata,
} from '../src/schemas/recording.js'
import { compact, num, recordingSelfUri, toAnnotation, toUser } from '../src/services/recording-mapper.js'

const iso = (date: Date | null | undefined) => date?.toISOString()

/** What every read of a recording loads with it, in wire order. */
export const recordingInclude = {
  annotations: { orderBy: [{ location: 'asc' }, { id: 'asc' }] },
  chatMessages: { orderBy: { ordinal: 'asc' } },
  emailMessages: { orderBy: { ordinal: 'asc' } },
  messagingMessages: { orderBy: { ordinal: 'asc' } },
  mediaResults: { orderBy: { key: 'asc' } },
  users: { orderBy: { ordinal: 'asc' } },
} satisfies Prisma.RecordingInclude

export type RecordingRow = Prisma.RecordingGetPayload<{ include: typeof recordingInclude }>

/** Metadata reads load only the annotations a client made (system annotations carry a reason). */
export const metadataInclude = {
  annotations: { where: { reason: null }, orderBy: [{ location: 'asc' }, { id: 'asc' }] },
} satisfies Prisma.RecordingInclude
type MetadataRow = Prisma.RecordingGetPayload<{ include: typeof metadataInclude }>

const nonEmpty = <T>(items: T[]) => (items.length > 0 ? items : undefined)

export function toRecording(row: RecordingRow): Recording {
  const selfUri = recordingSelfUri(row.conversationId, row.id)
  return compact({
    id: row.id,
    name: row.name,
    conversationId: row.conversationId,
    path: row.path,
    startTime: iso(row.startTime),
    endTime: iso(row.endTime),
    media: row.media,
    mediaSubtype: row.mediaSubtype,
    mediaSubject: row.mediaSubject,
    annotations: nonEmpty(row.annotations.map((annotation) => toAnnotation(annotation, selfUri))),
    transcript: nonEmpty(
      row.chatMessages.map(
        (m): ChatMessage =>
          compact({
            body: m.body,
            id: m.messageId,
            to: m.to,
            from: m.from,
            utc: m.utc,
            chat: m.chat,
            message: m.message,
            type: m.type,
            bodyType: m.bodyType,
            senderCommunicationId: m.senderCommunicationId,
            participantPurpose: m.participantPurpose,
            user: m.user as ChatMessage['user'],
          }),
      ),
    ),
    emailTranscript: nonEmpty(
      row.emailMessages.map(
        (m): EmailMessage =>
          compact({
            htmlBody: m.htmlBody,
            textBody: m.textBody,
            id: m.messageId,
            to: m.to as EmailMessage['to'],
            cc: m.cc as EmailMessage['cc'],
            bcc: m.bcc as EmailMessage['bcc'],
            from: m.from as EmailMessage['from'],
            replyTo: m.replyTo as EmailMessage['replyTo'],
            subject: m.subject,
            attachments: m.attachments as EmailMessage['attachments'],
            time: iso(m.time),
          }),
      ),
    ),
    messagingTranscript: nonEmpty(row.messagingMessages.map((m) => m.data as MessagingMessage)),
    fileState: row.fileState,
    restoreExpirationTime: iso(row.restoreExpirationTime),
    mediaUris:
      row.mediaResults.length > 0
        ? Object.fromEntries(row.mediaResults.map((m) => [m.key, compact({ mediaUri: m.mediaUri, waveformData: nonEmpty(m.waveformData) })]))
        : undefined,
    estimatedTranscodeTimeMs: num(row.estimatedTranscodeTimeMs),
    actualTranscodeTimeMs: num(row.actualTranscodeTimeMs),
    archiveDate: iso(row.archiveDate),
    archiveMedium: row.archiveMedium,
    deleteDate: iso(row.deleteDate),
    exportDate: iso(row.exportDate),
    exportedDate: iso(row.exportedDate),
    outputDurationMs: row.outputDurationMs,
    outputSizeInBytes: row.outputSizeInBytes,
    maxAllowedRestorationsForOrg: row.maxAllowedRestorationsForOrg,
    remainingRestorationsAllowedForOrg: row.remainingRestorationsAllowedForOrg,
    sessionId: row.sessionId,
    users: nonEmpty(row.users.map((u) => toUser({ id: u.userId, name: u.name, username: u.username, email: u.email, division: u.divisionId || u.divisionName ? { id: u.divisionId, name: u.divisionName } : null }))),
    recordingFileRole: row.recordingFileRole,
    recordingErrorStatus: row.recordingErrorStatus,
    originalRecordingStartTime: iso(row.originalRecordingStartTime),
    creationTime: iso(row.creationTime),
    associatedConversationIds: nonEmpty(row.associatedConversationIds),
    selfUri,
  })
}

const METADATA_FIELDS = Object.keys(RecordingMetadataSchema.properties) as (keyof RecordingMetadata)[]

export function toRecordingMetadata(row: MetadataRow): RecordingMetadata {
  const recording = toRecording({ ...row, chatMessages: [], emailMessages: [], messagingMessages: [], mediaResults: [], users: [] })
  return Object.fromEntries(METADATA_FIELDS.filter((field) => field in recording).map((field) => [field, recording[field as keyof Recording]]))
}
