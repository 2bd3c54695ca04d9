import { NotFoundError } from '../errors.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Ids are UUIDs; anything else cannot exist and is simply not found. */
export const isUuid = (id: string) => UUID.test(id)

/** Whose recording it is and where it lives: every read and write is scoped by all three. */
export interface RecordingKey {
  organizationId: string
  conversationId: string
  recordingId: string
}

/** Prisma where-clause for one recording; null when the id cannot exist. */
export const recordingWhere = ({ organizationId, conversationId, recordingId }: RecordingKey) =>
  isUuid(recordingId) ? { id: recordingId, organizationId, conversationId } : null

export const recordingNotFound = ({ conversationId, recordingId }: RecordingKey) =>
  new NotFoundError('Recording', recordingId, ` in conversation ${conversationId}`)
