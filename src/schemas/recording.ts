import { Type, type Static } from '@sinclair/typebox'
import {
  ANNOTATION_REASONS, ARCHIVE_MEDIUMS, CHAT_BODY_TYPES, DateTime, FILE_STATES, HttpUrl, INT32_MAX, Int32, Int64,
  MEDIA_KINDS, MEDIA_SUBTYPES, MESSAGING_CONTENT_TYPES, RECORDING_ERROR_STATUSES, RECORDING_FILE_ROLES,
  SOCIAL_VISIBILITIES, StringEnum, StringMap, Text, ConversationId,
} from './common.js'

// Response shapes list every property as optional: absent values are omitted on the wire, never null.
// Input shapes of Genesys models stay open (no additionalProperties: false): producers and SDK callers send
// whole Genesys objects, and what the store does not keep is ignored.

const Opt = Type.Optional

export const DivisionSchema = Type.Object(
  { id: Opt(Type.String()), name: Opt(Type.String()), selfUri: Opt(Type.String()) },
  { title: 'Division' },
)

/** The stored subset of a Genesys `User`: a reference snapshot, not the live directory object. */
export const UserSchema = Type.Object(
  {
    id: Opt(Text(128)),
    name: Opt(Text(500)),
    username: Opt(Text(500)),
    email: Opt(Text(500)),
    division: Opt(DivisionSchema),
    selfUri: Opt(Type.String()),
  },
  { title: 'User', description: 'Reference snapshot of a Genesys user (id, name, username, email, division).' },
)
export type User = Static<typeof UserSchema>

const annotationFields = {
  name: Opt(Text(200, 'Label of the annotation.')),
  type: Opt(Text(100, 'Kind of annotation, e.g. bookmark, pause, hold.')),
  location: Opt(Int64('Position from the recording start, in ms.')),
  durationMs: Opt(Int64('Length of the annotated span, in ms.')),
  description: Opt(Text(500, 'Free text, at most 500 characters.')),
}
const derivedAnnotationFields = {
  absoluteLocation: Opt(Int64('Position in ms after subtracting all pauses.')),
  absoluteDurationMs: Opt(Int64()),
  recordingLocation: Opt(Int64('Position in ms after accounting for cuts.')),
  recordingDurationMs: Opt(Int64()),
  realtimeLocation: Opt(Int64('Position in ms on the raw timeline.')),
  reason: Opt(StringEnum(ANNOTATION_REASONS, { description: 'Why a pause annotation exists.' })),
  user: Opt(UserSchema),
}

export const AnnotationSchema = Type.Object(
  { id: Opt(Type.String()), ...annotationFields, ...derivedAnnotationFields, selfUri: Opt(Type.String()) },
  { title: 'Annotation' },
)
export type Annotation = Static<typeof AnnotationSchema>

/**
 * Body of annotation POST/PUT: a whole Annotation may come back; only the client-owned fields are read. The id of a
 * PUT comes from the path; `id`, `selfUri`, `user`, derived positions and `reason` belong to the server.
 */
export const AnnotationInputSchema = Type.Object(
  { id: Opt(Type.String({ description: 'On POST: an existing annotation id makes this an update.' })), ...annotationFields },
  {
    title: 'AnnotationInput',
    additionalProperties: true,
    examples: [{ name: 'escalation', type: 'bookmark', location: 65_000, durationMs: 0, description: 'Customer asked for a supervisor' }],
  },
)
export type AnnotationInput = Static<typeof AnnotationInputSchema>

/** An annotation as the producer delivers it at ingest: system annotations may carry positions and a reason. */
export const IngestAnnotationSchema = Type.Object(
  { ...annotationFields, ...derivedAnnotationFields },
  { title: 'IngestAnnotation' },
)
export type IngestAnnotation = Static<typeof IngestAnnotationSchema>

export const ChatMessageUserSchema = Type.Object(
  {
    id: Opt(Type.String()),
    name: Opt(Type.String()),
    displayName: Opt(Type.String()),
    username: Opt(Type.String()),
    images: Opt(Type.Array(Type.Object({ resolution: Opt(Type.String()), imageUri: Opt(HttpUrl(4000, 'Absolute http(s) URL of the image.')) }))),
  },
  { title: 'ChatMessageUser' },
)

export const ChatMessageSchema = Type.Object(
  {
    body: Opt(Text(100_000)),
    id: Opt(Type.String()),
    to: Opt(Type.String()),
    from: Opt(Type.String()),
    utc: Opt(Type.String({ description: 'Send time as sent by the producer (no declared format).' })),
    chat: Opt(Type.String()),
    message: Opt(Type.String()),
    type: Opt(Type.String()),
    bodyType: Opt(StringEnum(CHAT_BODY_TYPES)),
    senderCommunicationId: Opt(Type.String()),
    participantPurpose: Opt(Type.String()),
    user: Opt(ChatMessageUserSchema),
  },
  { title: 'ChatMessage' },
)
export type ChatMessage = Static<typeof ChatMessageSchema>

export const EmailAddressSchema = Type.Object(
  { email: Opt(Type.String()), name: Opt(Type.String()) },
  { title: 'EmailAddress' },
)
export const EmailAttachmentSchema = Type.Object(
  {
    name: Opt(Type.String()),
    contentPath: Opt(Type.String()),
    contentType: Opt(Type.String()),
    attachmentId: Opt(Type.String()),
    contentLength: Opt(Int32()),
  },
  { title: 'EmailAttachment' },
)

export const EmailMessageSchema = Type.Object(
  {
    htmlBody: Opt(Type.String()),
    textBody: Opt(Type.String()),
    id: Opt(Type.String()),
    to: Opt(Type.Array(EmailAddressSchema)),
    cc: Opt(Type.Array(EmailAddressSchema)),
    bcc: Opt(Type.Array(EmailAddressSchema)),
    from: Opt(EmailAddressSchema),
    replyTo: Opt(EmailAddressSchema),
    subject: Opt(Type.String()),
    attachments: Opt(Type.Array(EmailAttachmentSchema)),
    time: Opt(DateTime()),
  },
  { title: 'RecordingEmailMessage' },
)
export type EmailMessage = Static<typeof EmailMessageSchema>

const RichContent = (description: string) => Type.Object({}, { additionalProperties: true, description })
const RichContentList = (description: string) => Type.Array(RichContent(description))

/**
 * A messaging message is stored whole, so every property below (and any the SDK adds later) round-trips
 * untouched. Only the scalars the store filters on are typed tightly.
 */
export const MessagingMessageSchema = Type.Object(
  {
    from: Opt(Type.String()),
    fromUser: Opt(RichContent('Genesys User who sent it.')),
    fromExternalContact: Opt(RichContent('Genesys ExternalContact who sent it.')),
    to: Opt(Type.String()),
    timestamp: Opt(DateTime()),
    id: Opt(Type.String()),
    status: Opt(Type.String()),
    purpose: Opt(Type.String()),
    participantId: Opt(Type.String()),
    queue: Opt(RichContent('AddressableEntityRef')),
    workflow: Opt(RichContent('AddressableEntityRef')),
    messageText: Opt(Type.String()),
    messageMediaAttachments: Opt(RichContentList('MessageMediaAttachment')),
    messageStickerAttachments: Opt(RichContentList('MessageStickerAttachment')),
    quickReplies: Opt(RichContentList('QuickReply')),
    buttonResponse: Opt(RichContent('ButtonResponse')),
    buttonResponses: Opt(RichContentList('ButtonResponse')),
    story: Opt(RichContent('RecordingContentStory')),
    cards: Opt(RichContentList('Card')),
    notificationTemplate: Opt(RichContent('RecordingNotificationTemplate')),
    datePicker: Opt(RichContent('DatePicker')),
    listPicker: Opt(RichContent('ListPicker')),
    contentType: Opt(StringEnum(MESSAGING_CONTENT_TYPES)),
    socialVisibility: Opt(StringEnum(SOCIAL_VISIBILITIES)),
    events: Opt(RichContentList('ConversationMessageEvent')),
    interactiveApplication: Opt(RichContent('InteractiveApplication')),
    paymentRequest: Opt(RichContent('PaymentRequest')),
    paymentResponse: Opt(RichContent('PaymentResponse')),
    form: Opt(RichContent('RecordingForm')),
    roadsideAssistance: Opt(RichContent('RecordingRoadsideAssistance')),
    richLink: Opt(RichContent('RichLink')),
    messageReceipts: Opt(RichContentList('RecordingMessageReceipt')),
    notificationResponse: Opt(RichContent('RecordingNotificationResponse')),
  },
  { title: 'RecordingMessagingMessage', additionalProperties: true },
)
export type MessagingMessage = Static<typeof MessagingMessageSchema>

export const MediaResultSchema = Type.Object(
  {
    mediaUri: Opt(HttpUrl(4000, 'Absolute http(s) URL of a playable or downloadable rendition.')),
    waveformData: Opt(Type.Array(Type.Number(), { maxItems: 100_000 })),
  },
  { title: 'MediaResult' },
)
export type MediaResult = Static<typeof MediaResultSchema>

export const MediaUrisSchema = StringMap(MediaResultSchema, {
  description: 'Renditions of the media, keyed by an opaque string (for example the format).',
})

const producerFields = {
  name: Opt(Text(1000)),
  startTime: Opt(DateTime('Where playable media begins (ISO-8601).')),
  endTime: Opt(DateTime('Where playable media ends (ISO-8601).')),
  media: Opt(StringEnum(MEDIA_KINDS, { description: 'Kind of media captured.' })),
  mediaSubtype: Opt(StringEnum(MEDIA_SUBTYPES)),
  mediaSubject: Opt(Text(2000)),
  sessionId: Opt(Text(200)),
  recordingFileRole: Opt(StringEnum(RECORDING_FILE_ROLES)),
  associatedConversationIds: Opt(Type.Array(ConversationId, { maxItems: 100 })),
  users: Opt(Type.Array(UserSchema, { maxItems: 100 })),
  transcript: Opt(Type.Array(ChatMessageSchema, { maxItems: 10_000 })),
  emailTranscript: Opt(Type.Array(EmailMessageSchema, { maxItems: 1_000 })),
  messagingTranscript: Opt(Type.Array(MessagingMessageSchema, { maxItems: 10_000 })),
}

/** Body of the ingest route: producer-owned fields, retention dates, annotations and externally stored media. */
export const CreateRecordingSchema = Type.Object(
  {
    conversationId: Opt(Type.String({ description: 'Optional; must equal the path segment when given.' })),
    ...producerFields,
    annotations: Opt(Type.Array(IngestAnnotationSchema, { maxItems: 1_000 })),
    archiveDate: Opt(DateTime('When the media moves to archive storage.')),
    deleteDate: Opt(DateTime('When the recording is deleted.')),
    mediaUris: Opt(MediaUrisSchema),
    path: Opt(Text(2000, 'Storage path of the media object, for media stored elsewhere.')),
    estimatedTranscodeTimeMs: Opt(Int64()),
    actualTranscodeTimeMs: Opt(Int64()),
    outputDurationMs: Opt(Int32()),
    outputSizeInBytes: Opt(Type.Integer({ minimum: 0, maximum: INT32_MAX })),
  },
  {
    title: 'CreateRecording',
    additionalProperties: false,
    // The conversation comes from the path; leaving it out keeps Swagger UI's "Try it out" consistent.
    examples: [{
      name: 'Support call',
      media: 'audio',
      mediaSubtype: 'Trunk',
      recordingFileRole: 'CUSTOMER_EXPERIENCE',
      startTime: '2024-05-02T09:00:00.000Z',
      endTime: '2024-05-02T09:07:38.000Z',
      users: [{ id: '5f2e9a1c-8d4b-4c3e-9f7a-2b6d1e0c4a8f', name: 'Ada Agent', email: 'ada.agent@example.com' }],
      annotations: [{ name: 'Hold', type: 'hold', location: 65_000, durationMs: 12_000, reason: 'Hold' }],
      mediaUris: { WEBM: { mediaUri: 'https://media.example.com/recordings/a9e2c6d4/call.webm' } },
      outputDurationMs: 458_000,
      outputSizeInBytes: 3_664_000,
      archiveDate: '2099-05-02T00:00:00.000Z',
      deleteDate: '2099-11-02T00:00:00.000Z',
    }],
  },
)
export type CreateRecording = Static<typeof CreateRecordingSchema>

/** Genesys semantics: a whole Recording may come back; only the retention dates are read. */
export const UpdateRecordingSchema = Type.Object(
  {
    archiveDate: Opt(Type.Union([Type.Null(), DateTime()], { description: 'New archive date; null or absent clears it.' })),
    deleteDate: Opt(Type.Union([Type.Null(), DateTime()], { description: 'New delete date; null or absent clears it.' })),
  },
  {
    title: 'RecordingUpdate',
    additionalProperties: true,
    description: 'A Recording; every other property is ignored.',
    examples: [{ archiveDate: '2099-06-01T00:00:00.000Z', deleteDate: '2099-12-01T00:00:00.000Z' }],
  },
)
export type UpdateRecording = Static<typeof UpdateRecordingSchema>

export const UpdateRecordingQuery = Type.Object({
  clearExport: Opt(Type.Boolean({ description: 'When true, cancel a pending export (clears exportDate).' })),
})

export const RecordingSchema = Type.Object(
  {
    id: Opt(Type.String()),
    name: Opt(Type.String()),
    conversationId: Opt(Type.String()),
    path: Opt(Type.String()),
    startTime: Opt(Type.String()),
    endTime: Opt(Type.String()),
    media: Opt(Type.String()),
    mediaSubtype: Opt(StringEnum(MEDIA_SUBTYPES)),
    mediaSubject: Opt(Type.String()),
    annotations: Opt(Type.Array(AnnotationSchema)),
    transcript: Opt(Type.Array(ChatMessageSchema)),
    emailTranscript: Opt(Type.Array(EmailMessageSchema)),
    messagingTranscript: Opt(Type.Array(MessagingMessageSchema)),
    fileState: Opt(StringEnum(FILE_STATES)),
    restoreExpirationTime: Opt(DateTime()),
    mediaUris: Opt(MediaUrisSchema),
    estimatedTranscodeTimeMs: Opt(Type.Integer()),
    actualTranscodeTimeMs: Opt(Type.Integer()),
    archiveDate: Opt(DateTime()),
    archiveMedium: Opt(StringEnum(ARCHIVE_MEDIUMS)),
    deleteDate: Opt(DateTime()),
    exportDate: Opt(DateTime()),
    exportedDate: Opt(DateTime()),
    outputDurationMs: Opt(Type.Integer()),
    outputSizeInBytes: Opt(Type.Integer()),
    maxAllowedRestorationsForOrg: Opt(Type.Integer()),
    remainingRestorationsAllowedForOrg: Opt(Type.Integer()),
    sessionId: Opt(Type.String()),
    users: Opt(Type.Array(UserSchema)),
    recordingFileRole: Opt(StringEnum(RECORDING_FILE_ROLES)),
    recordingErrorStatus: Opt(StringEnum(RECORDING_ERROR_STATUSES)),
    originalRecordingStartTime: Opt(DateTime()),
    creationTime: Opt(DateTime()),
    associatedConversationIds: Opt(Type.Array(Type.String())),
    selfUri: Opt(Type.String()),
  },
  { title: 'Recording' },
)
export type Recording = Static<typeof RecordingSchema>

export const RecordingListSchema = Type.Array(RecordingSchema)

/** Recording data without media links, transcripts, transcode figures or users (Genesys RecordingMetadata). */
export const RecordingMetadataSchema = Type.Object(
  {
    ...Type.Pick(RecordingSchema, [
      'id', 'name', 'conversationId', 'path', 'startTime', 'endTime', 'media', 'mediaSubtype', 'mediaSubject',
      'annotations', 'fileState', 'restoreExpirationTime', 'archiveDate', 'archiveMedium', 'deleteDate', 'exportDate',
      'exportedDate', 'maxAllowedRestorationsForOrg', 'remainingRestorationsAllowedForOrg', 'sessionId', 'selfUri',
    ]).properties,
    region: Opt(Type.String({ description: 'Cloud region of the source media; not tracked by this store.' })),
  },
  { title: 'RecordingMetadata' },
)
export type RecordingMetadata = Static<typeof RecordingMetadataSchema>

export const AUDIO_FORMATS = ['WAV', 'WEBM', 'WAV_ULAW', 'OGG_VORBIS', 'OGG_OPUS', 'MP3'] as const

const recordingViewQuery = {
  formatId: Opt(StringEnum([...AUDIO_FORMATS, 'NONE'], {
    description:
      'The format of stored media in mediaUris (default WEBM): as stored when it is that format, else made from it ' +
      '(202 until made; then kept). NONE leaves mediaUris out. Media linked at ingest is listed as it is.',
  })),
  mediaFormats: Opt(Type.Array(StringEnum(AUDIO_FORMATS), {
    description:
      'Comma-joined or repeated; takes precedence over formatId. Stored media in the first of these formats it is ' +
      'available in at once, else made in the first (202 until made). Linked media is narrowed to these formats: ' +
      'a link\'s format is its key when the key names one (WAV, WEBM, ...), else its file extension.',
  })),
  locale: Opt(Type.String({ pattern: '^[A-Za-z]{2}([-_][A-Za-z]{2})?$', description: 'ISO 639-1 code. Accepted; no redaction is done.' })),
}
export type MediaFormat = (typeof AUDIO_FORMATS)[number]

export const GetRecordingQuery = Type.Object({
  ...recordingViewQuery,
  emailFormatId: Opt(StringEnum(['EML', 'NONE'], { description: 'NONE leaves emailTranscript out. Default EML.' })),
  chatFormatId: Opt(StringEnum(['ZIP', 'NONE'], { description: 'NONE leaves transcript (chat) out. Default ZIP.' })),
  messageFormatId: Opt(StringEnum(['ZIP', 'NONE'], { description: 'NONE leaves messagingTranscript out. Default ZIP.' })),
  download: Opt(Type.Boolean({ description: 'true: stored media as it was uploaded, whatever its format (no rendition is made).' })),
  fileName: Opt(Text(255, 'Accepted with download; no file is produced.')),
})
export type GetRecordingQuery = Static<typeof GetRecordingQuery>

export const ListRecordingsQuery = Type.Object({
  ...recordingViewQuery,
  maxWaitMs: Opt(Type.Integer({
    minimum: 0,
    maximum: 600_000,
    description:
      'How long the answer may wait for renditions being made, in ms (default 5000; at most 10000 is waited, under ' +
      'the SDK\'s 16 s timeout). Those still being made then have no mediaUris, and the answer is 202.',
  })),
  includePauseAnnotationsForScreenRecordings: Opt(Type.Boolean({
    description: 'When true, screen recordings also carry the secure-pause annotations of the audio recordings of the conversation.',
  })),
})
export type ListRecordingsQuery = Static<typeof ListRecordingsQuery>
