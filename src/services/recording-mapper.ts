import type { Prisma } from '../generated/prisma/client.js'
import type { Annotation, User } from '../schemas/recording.js'

type AnnotationRow = Prisma.AnnotationGetPayload<object>

type Compact<T> = { [K in keyof T]: Exclude<T[K], null> }

/** Drops null and undefined members: absent values are omitted on the wire, never sent as null. */
export function compact<T extends object>(value: T): Compact<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined)) as Compact<T>
}

export const num = (value: bigint | null | undefined) => (value === null || value === undefined ? undefined : Number(value))

export const recordingSelfUri = (conversationId: string, id: string) =>
  `/api/v2/conversations/${encodeURIComponent(conversationId)}/recordings/${id}`

/** The stored User subset, from whatever User object the producer sent. */
export function toStoredUser(user: User): Prisma.InputJsonObject {
  return compact({
    id: user.id,
    name: user.name,
    username: user.username,
    email: user.email,
    division: user.division?.id || user.division?.name ? compact({ id: user.division.id, name: user.division.name }) : undefined,
  })
}

export function toUser(stored: { id?: string | null; name?: string | null; username?: string | null; email?: string | null; division?: { id?: string | null; name?: string | null } | null }): User {
  const division = stored.division
  return compact({
    id: stored.id,
    name: stored.name,
    username: stored.username,
    email: stored.email,
    division: division
      ? compact({ id: division.id, name: division.name, selfUri: division.id ? `/api/v2/authorization/divisions/${division.id}` : undefined })
      : undefined,
    selfUri: stored.id ? `/api/v2/users/${stored.id}` : undefined,
  })
}

export function toAnnotation(row: AnnotationRow, recordingUri: string): Annotation {
  return compact({
    id: row.id,
    name: row.name,
    type: row.type,
    location: num(row.location),
    durationMs: num(row.durationMs),
    absoluteLocation: num(row.absoluteLocation),
    absoluteDurationMs: num(row.absoluteDurationMs),
    recordingLocation: num(row.recordingLocation),
    recordingDurationMs: num(row.recordingDurationMs),
    realtimeLocation: num(row.realtimeLocation),
    user: row.user ? toUser(row.user as User) : undefined,
    description: row.description,
    reason: row.reason,
    selfUri: `${recordingUri}/annotations/${row.id}`,
  })
}
