import type { PrismaClient } from '../generated/prisma/client.js'
import { ForbiddenError, InvalidRequestError, NotFoundError } from '../errors.js'
import type { Annotation, AnnotationInput } from '../schemas/recording.js'
import { recordingSelfUri, toAnnotation } from './recording-mapper.js'
import { isUuid, recordingNotFound, recordingWhere, type RecordingKey } from './recording-key.js'

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

    async get(key: RecordingKey, annotationId: string): Promise<Annotation> {
      const id = await recordingId(key)
      const row = isUuid(annotationId) ? await prisma.annotation.findFirst({ where: { id: annotationId, recordingId: id } }) : null
      if (!row) throw annotationNotFound(key, annotationId)
      return toAnnotation(row, uri(key))
    },

    /**
     * Genesys treats annotation POST and PUT as upserts: a known id is updated, an unknown one created (with that
     * id when it is a UUID the client chose; ids are per recording, so this reveals nothing of other recordings).
     * System annotations (those with a `reason`) are read-only.
     */
    async upsert(
      key: RecordingKey,
      annotationId: string | undefined,
      input: AnnotationInput,
      may: { create: boolean; update: boolean },
    ): Promise<{ annotation: Annotation; created: boolean }> {
      const id = await recordingId(key)
      if (annotationId !== undefined && !isUuid(annotationId)) {
        throw new InvalidRequestError(`Annotation ids are UUIDs; ${annotationId} is not one`, 'annotationId', 'params')
      }
      const data = clientFields(input)
      const { row, created } = await prisma.$transaction(async (tx) => {
        const where = annotationId ? { recordingId_id: { recordingId: id, id: annotationId } } : null
        const existing = where ? await tx.annotation.findUnique({ where, select: { reason: true } }) : null
        if (existing?.reason) throw new InvalidRequestError(`Annotation ${annotationId} is a system annotation (${existing.reason}) and cannot be changed`)
        if (existing && where) {
          if (!may.update) throw new ForbiddenError('Missing permission: changing an annotation needs recording:annotation:edit')
          return { row: await tx.annotation.update({ where, data }), created: false }
        }
        if (!may.create) throw new ForbiddenError('Missing permission: creating an annotation needs recording:annotation:add')
        return { row: await tx.annotation.create({ data: { ...data, id: annotationId, recordingId: id } }), created: true }
      })
      return { annotation: toAnnotation(row, uri(key)), created }
    },

    async remove(key: RecordingKey, annotationId: string): Promise<void> {
      const id = await recordingId(key)
      const existing = isUuid(annotationId) ? await prisma.annotation.findFirst({ where: { id: annotationId, recordingId: id }, select: { reason: true } }) : null
      if (!existing) throw annotationNotFound(key, annotationId)
      if (existing.reason) throw new InvalidRequestError(`Annotation ${annotationId} is a system annotation (${existing.reason}) and cannot be deleted`)
      await prisma.annotation.delete({ where: { recordingId_id: { recordingId: id, id: annotationId } } })
    },
  }
}

export type AnnotationService = ReturnType<typeof createAnnotationService>
