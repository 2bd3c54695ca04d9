import { Type, type Static, type TSchema } from '@sinclair/typebox'

/**
 * A string enum as plain JSON Schema `enum`: one readable Ajv error ("must be equal to one of the allowed
 * values") and a clean OpenAPI `enum`, where a union of literals would give one error per member.
 */
export const StringEnum = <const T extends readonly string[]>(values: T, options: { description?: string } = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options })

/** A JSON object map (`{ [key]: T }`) that OpenAPI 3.0 can describe, unlike `patternProperties`. */
export const StringMap = <T extends TSchema>(value: T, options: { description?: string } = {}) =>
  Type.Unsafe<Record<string, Static<T>>>({ type: 'object', additionalProperties: value, ...options })

/** ISO-8601 instant. Output is always `Date#toISOString()` form (UTC, milliseconds). */
export const DateTime = (description?: string) =>
  Type.String({ format: 'date-time', ...(description ? { description } : {}) })

/** int64 on the wire: a JSON number, exact up to 2^53 - 1. */
export const Int64 = (description?: string) =>
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, ...(description ? { description } : {}) })

export const INT32_MAX = 2_147_483_647
export const Int32 = (description?: string) =>
  Type.Integer({ minimum: 0, maximum: INT32_MAX, ...(description ? { description } : {}) })

/**
 * An absolute http(s) URL. Players and browsers are handed these as they are: a relative path would resolve against
 * whatever page shows it, and `javascript:` or `file:` must never reach one.
 */
export const HttpUrl = (maxLength: number, description?: string) =>
  Type.String({ maxLength, format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s]+', ...(description ? { description } : {}) })

/** A free-text value with a sane upper bound, so a single field cannot hold the whole request. */
export const Text = (maxLength = 1000, description?: string) =>
  Type.String({ maxLength, ...(description ? { description } : {}) })

export const MEDIA_SUBTYPES = ['Trunk', 'Station', 'Consult', 'Screen', 'Snippet'] as const
export const FILE_STATES = ['ARCHIVED', 'AVAILABLE', 'DELETED', 'RESTORED', 'RESTORING', 'UPLOADING', 'ERROR'] as const
export const ARCHIVE_MEDIUMS = ['CLOUDARCHIVE'] as const
export const RECORDING_FILE_ROLES = ['CUSTOMER_EXPERIENCE', 'ADHOC'] as const
/** TRANSCODING_FAILED (this store): the stored media could not be made into the format asked for. */
export const RECORDING_ERROR_STATUSES = ['EMAIL_TRANSCRIPT_TOO_LARGE', 'TRANSCODING_FAILED'] as const
export const ANNOTATION_REASONS = ['Hold', 'SecurePause', 'FlowOrQueue', 'Pause'] as const
export const CHAT_BODY_TYPES = [
  'STANDARD', 'ACTIVITY', 'TYPING', 'NOTICE', 'MEMBERJOIN', 'MEMBERLEAVE', 'MEDIAREQUEST',
] as const
export const MESSAGING_CONTENT_TYPES = [
  'QuickReply', 'Story', 'Card', 'Carousel', 'Attachment', 'Location', 'Notification', 'GenericTemplate',
  'ListTemplate', 'Postback', 'Reactions', 'Mention', 'ButtonResponse', 'DatePicker', 'ListPicker',
  'InteractiveApplication', 'PaymentRequest', 'PaymentResponse', 'Form', 'RichLink', 'RoadsideAssistance',
  'NotificationResponse',
] as const
export const SOCIAL_VISIBILITIES = ['Public', 'Private'] as const
/** Genesys leaves `Recording.media` a free string; this store keeps to one vocabulary. */
export const MEDIA_KINDS = ['audio', 'chat', 'email', 'messaging', 'screen'] as const

/**
 * The ids of the OpenAPI examples. Swagger UI's "Try it out" fills path parameters with them, so every documented call
 * addresses the same conversation, recording and annotation, and the ingest example lands where the others look.
 */
export const EXAMPLE_IDS = {
  conversationId: 'a9e2c6d4-41b5-4e2f-8f0a-6a1f3b7c2d55',
  recordingId: '01936c2e-3b0f-7c0e-9d1c-2f4f1f0c9a11',
  annotationId: '01936c2e-7c1d-7e2f-8a3b-4c5d6e7f8a9b',
} as const

export const ConversationId = Type.String({
  minLength: 1,
  maxLength: 128,
  description: 'Conversation identifier (Genesys uses UUIDs; any opaque id up to 128 characters is accepted).',
  examples: [EXAMPLE_IDS.conversationId],
})
// Not `format: uuid`: an id that cannot exist is simply not found (404), as on Genesys.
export const RecordingId = Type.String({ minLength: 1, maxLength: 128, description: 'Recording identifier (a UUID).', examples: [EXAMPLE_IDS.recordingId] })

export const ConversationParams = Type.Object({ conversationId: ConversationId })
export const RecordingParams = Type.Object({ conversationId: ConversationId, recordingId: RecordingId })
export type RecordingParams = Static<typeof RecordingParams>
