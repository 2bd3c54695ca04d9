import type { PrismaClient } from '../generated/prisma/client.js'
import { ForbiddenError, InvalidRequestError, NotFoundError, PreconditionFailedError } from '../errors.js'
import type { Annotation, AnnotationInput } from '../schemas/recording.js'
import { recordingSelfUri, toAnnotation } from './recording-mapper.js'
import { isUuid, recordingNotFound, recordingWhere, type RecordingKey } from './recording-key.js'
import { assertIfMatch, etagOf, type IfMatch } from './etag.js'

const bigint = (value: number | undefined) => (value === undefined ? null : BigInt(value))

/** What a client may set. Absent fields are cleared: POST and PUT carry the whole annotation. */
const clientFields = (input: AnnotationInput) => ({
  name: input.name ?? null,
  type: input.type ?? null,
  location: bigint(input.location),
  durationMs: bigint(input.durationMs),
  description: input.description ?? null,
})

export function createAnnotationService({ prisma }: { prisma: PrismaClient }) {
  const annotationNotFound = (key: RecordingKey, annotationId: string) =>
    new NotFoundError('Annotation', annotationId, ` on recording ${key.recordingId}`)

  /** The recording's id when it exists for this organization and conversation; 404 otherwise. */
  async function recordingId(key: RecordingKey): Promise<string> {
    const where = recordingWhere(key)
    const recording = where && (await prisma.recording.findFirst({ where, select: { id: true } }))
    if (!recording) throw recordingNotFound(key)
    return recording.id
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
      const id = await recordingId(key)
      const row = isUuid(annotationId) ? await prisma.annotation.findFirst({ where: { id: annotationId, recordingId: id } }) : null
      if (!row) throw annotationNotFound(key, annotationId)
      return { annotation: toAnnotation(row, uri(key)), etag: etagOf(row.version.toString()) }
    },

    /**
     * Genesys treats annotation POST and PUT as upserts: a known id is updated, an unknown one created (with that
     * id when it is a UUID the client chose; ids are per recording, so this reveals nothing of other recordings).
     * System annotations (those with a `reason`) are read-only. With `ifMatch`, only an existing annotation whose
     * version matches is changed, and that version is the one overwritten (compare-and-set): of two writers holding
     * the same ETag, one gets 412.
     */
    async upsert(
      key: RecordingKey,
      annotationId: string | undefined,
      input: AnnotationInput,
      may: { create: boolean; update: boolean },
      ifMatch?: IfMatch,
    ): Promise<{ annotation: Annotation; created: boolean; etag: string }> {
      const id = await recordingId(key)
      if (annotationId !== undefined && !isUuid(annotationId)) {
        throw new InvalidRequestError(`Annotation ids are UUIDs; ${annotationId} is not one`, 'annotationId', 'params')
      }
      const data = clientFields(input)
      const { row, created } = await prisma.$transaction(async (tx) => {
        const where = annotationId ? { recordingId_id: { recordingId: id, id: annotationId } } : null
        const existing = where ? await tx.annotation.findUnique({ where, select: { reason: true, version: true } }) : null
        if (existing?.reason) throw new InvalidRequestError(`Annotation ${annotationId} is a system annotation (${existing.reason}) and cannot be changed`)
        assertIfMatch(ifMatch, existing?.version.toString(), `annotation ${annotationId ?? ''}`)
        if (existing && where && annotationId) {
          if (!may.update) throw new ForbiddenError('Missing permission: changing an annotation needs recording:annotation:edit')
          const { count } = await tx.annotation.updateMany({
            where: { recordingId: id, id: annotationId, ...(Array.isArray(ifMatch) ? { version: existing.version } : {}) },
            data,
          })
          if (count === 0) throw changed(annotationId)
          const row = await tx.annotation.findUnique({ where })
          if (!row) throw changed(annotationId)
          return { row, created: false }
        }
        if (!may.create) throw new ForbiddenError('Missing permission: creating an annotation needs recording:annotation:add')
        return { row: await tx.annotation.create({ data: { ...data, id: annotationId, recordingId: id } }), created: true }
      })
      return { annotation: toAnnotation(row, uri(key)), created, etag: etagOf(row.version.toString()) }
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
