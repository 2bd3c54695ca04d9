import { Prisma, type PrismaClient } from '../generated/prisma/client.js'
import { ForbiddenError, InvalidRequestError, NotFoundError, PreconditionFailedError } from '../errors.js'
import type { Annotation, AnnotationInput } from '../schemas/recording.js'
import { recordingSelfUri, toAnnotation } from './recording-mapper.js'
import { isUuid, recordingNotFound, recordingWhere, type RecordingKey } from './recording-key.js'
import { assertIfMatch, etagOf, type IfMatch } from './etag.js'
import { storeAnswer, type HeldClaim } from './idempotency-service.js'

const bigint = (value: number | undefined) => (value === undefined ? null : BigInt(value))

/** What a client may set. Absent fields are cleared: POST and PUT carry the whole annotation. */
const clientFields = (input: AnnotationInput) => ({
  name: input.name ?? null,
  type: input.type ?? null,
  location: bigint(input.location),
  durationMs: bigint(input.durationMs),
  description: input.description ?? null,
})

type AnnotationRow = Prisma.AnnotationGetPayload<object>

/** The idempotency key an upsert answers, with the answer's status, content type and the route's serializer. */
export interface AnnotationAnswer {
  key: HeldClaim
  statusCode: number
  contentType: string
  serialize: (annotation: Annotation) => string
}

/**
 * An annotation row as Prisma would map it. The reads and updates that a client repeats (GET, and PUT with If-Match
 * in a read-modify-write loop) are single raw statements: through Prisma's query builder each statement cost ~5 ms
 * here, a raw one a small fraction of that.
 */
const ROW = Prisma.raw(`a.id, a.recording_id AS "recordingId", a.name, a.type, a.location, a.duration_ms AS "durationMs",
  a.absolute_location AS "absoluteLocation", a.absolute_duration_ms AS "absoluteDurationMs",
  a.recording_location AS "recordingLocation", a.recording_duration_ms AS "recordingDurationMs",
  a.realtime_location AS "realtimeLocation", a."user", a.description, a.reason, a.created_at AS "createdAt", a.version`)

export function createAnnotationService({ prisma }: { prisma: PrismaClient }) {
  const annotationNotFound = (key: RecordingKey, annotationId: string) =>
    new NotFoundError('Annotation', annotationId, ` on recording ${key.recordingId}`)

  /** The recording's id when it exists for this organization and conversation; 404 otherwise. */
  async function recordingId(key: RecordingKey): Promise<string> {
    const [recording] = isUuid(key.recordingId)
      ? await prisma.$queryRaw<{ id: string }[]>`SELECT id FROM recordings
          WHERE id = ${key.recordingId}::uuid AND organization_id = ${key.organizationId}::uuid AND conversation_id = ${key.conversationId}`
      : []
    if (!recording) throw recordingNotFound(key)
    return recording.id
  }

  /**
   * The recording's id and its annotation `annotationId` (undefined when there is no such annotation); 404 when there
   * is no such recording. One statement.
   */
  async function findAnnotation(key: RecordingKey, annotationId: string): Promise<{ recordingId: string; row: AnnotationRow | undefined }> {
    const [found] = isUuid(key.recordingId)
      ? await prisma.$queryRaw<({ found: string } & ({ [K in keyof AnnotationRow]: null } | AnnotationRow))[]>`
          SELECT r.id AS found, ${ROW} FROM recordings r
          LEFT JOIN annotations a ON a.recording_id = r.id AND a.id = ${isUuid(annotationId) ? annotationId : null}::uuid
          WHERE r.id = ${key.recordingId}::uuid AND r.organization_id = ${key.organizationId}::uuid AND r.conversation_id = ${key.conversationId}`
      : []
    if (!found) throw recordingNotFound(key)
    return { recordingId: found.found, row: found.id === null ? undefined : (found as AnnotationRow) }
  }

  const uri = (key: RecordingKey) => recordingSelfUri(key.conversationId, key.recordingId)
  const changed = (annotationId: string) => new PreconditionFailedError(`If-Match: annotation ${annotationId} has changed`)

  return {
    async list(key: RecordingKey): Promise<Annotation[]> {
      const where = recordingWhere(key)
      const recording = where && (await prisma.recording.findFirst({
        where,
        select: { annotations: { orderBy: [{ location: 'asc' }, { id: 'asc' }] } },
      }))
      if (!recording) throw recordingNotFound(key)
      return recording.annotations.map((row) => toAnnotation(row, uri(key)))
    },

    async get(key: RecordingKey, annotationId: string): Promise<{ annotation: Annotation; etag: string }> {
      const { row } = await findAnnotation(key, annotationId)
      if (!row) throw annotationNotFound(key, annotationId)
      return { annotation: toAnnotation(row, uri(key)), etag: etagOf(row.version.toString()) }
    },

    /**
     * Genesys treats annotation POST and PUT as upserts: a known id is updated, an unknown one created (with that
     * id when it is a UUID the client chose; ids are per recording, so this reveals nothing of other recordings).
     * System annotations (those with a `reason`) are read-only. With `ifMatch`, only an existing annotation whose
     * version matches is changed, and that version is the one overwritten (compare-and-set): of two writers holding
     * the same ETag, one gets 412. With `answer`, the answer is also stored for its idempotency key, and `json` is
     * the text to send.
     */
    async upsert(
      key: RecordingKey,
      annotationId: string | undefined,
      input: AnnotationInput,
      may: { create: boolean; update: boolean },
      ifMatch?: IfMatch,
      answer?: AnnotationAnswer,
    ): Promise<{ annotation: Annotation; created: boolean; etag: string; json?: string }> {
      if (annotationId !== undefined && !isUuid(annotationId)) {
        await recordingId(key)
        throw new InvalidRequestError(`Annotation ids are UUIDs; ${annotationId} is not one`, 'annotationId', 'params')
      }
      const data = clientFields(input)
      const { recordingId: id, row: existing } = annotationId === undefined
        ? { recordingId: await recordingId(key), row: undefined }
        : await findAnnotation(key, annotationId)
      if (existing?.reason) throw new InvalidRequestError(`Annotation ${annotationId} is a system annotation (${existing.reason}) and cannot be changed`)
      assertIfMatch(ifMatch, existing?.version.toString(), `annotation ${annotationId ?? ''}`)
      if (existing ? !may.update : !may.create) {
        throw new ForbiddenError(existing
          ? 'Missing permission: changing an annotation needs recording:annotation:edit'
          : 'Missing permission: creating an annotation needs recording:annotation:add')
      }
      const write = async (db: Prisma.TransactionClient): Promise<AnnotationRow> => {
        if (!existing) return db.annotation.create({ data: { ...data, id: annotationId, recordingId: id } })
        // With If-Match, the version checked is the one overwritten: a writer that got there first makes this a 412.
        const [updated] = await db.$queryRaw<AnnotationRow[]>`
          UPDATE annotations a SET name = ${data.name}, type = ${data.type}, location = ${data.location},
            duration_ms = ${data.durationMs}, description = ${data.description}
          WHERE a.recording_id = ${existing.recordingId}::uuid AND a.id = ${existing.id}::uuid
            AND (${!Array.isArray(ifMatch)} OR a.version = ${existing.version})
          RETURNING ${ROW}`
        if (!updated) throw Array.isArray(ifMatch) ? changed(existing.id) : annotationNotFound(key, existing.id)
        return updated
      }
      const created = !existing
      const answered = (row: AnnotationRow) => ({ annotation: toAnnotation(row, uri(key)), created, etag: etagOf(row.version.toString()) })
      if (!answer) return answered(await write(prisma))
      // The answer is stored in the transaction of the write: a stored answer of its own would be a second commit,
      // and a process dying between the two would leave the key free for a retry to write again.
      return prisma.$transaction(async (tx) => {
        const result = answered(await write(tx))
        const json = answer.serialize(result.annotation)
        await storeAnswer(tx, answer.key, { statusCode: answer.statusCode, headers: { 'content-type': answer.contentType, etag: result.etag }, body: json })
        return { ...result, json }
      })
    },

    async remove(key: RecordingKey, annotationId: string, ifMatch?: IfMatch): Promise<void> {
      const id = await recordingId(key)
      const existing = isUuid(annotationId) ? await prisma.annotation.findFirst({ where: { id: annotationId, recordingId: id }, select: { reason: true, version: true } }) : null
      if (!existing) throw annotationNotFound(key, annotationId)
      if (existing.reason) throw new InvalidRequestError(`Annotation ${annotationId} is a system annotation (${existing.reason}) and cannot be deleted`)
      assertIfMatch(ifMatch, existing.version.toString(), `annotation ${annotationId}`)
      const { count } = await prisma.annotation.deleteMany({
        where: { recordingId: id, id: annotationId, ...(Array.isArray(ifMatch) ? { version: existing.version } : {}) },
      })
      if (count === 0 && ifMatch !== undefined) throw changed(annotationId)
    },
  }
}

export type AnnotationService = ReturnType<typeof createAnnotationService>
