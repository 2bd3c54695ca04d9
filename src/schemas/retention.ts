import { Type, type Static } from '@sinclair/typebox'
import { ARCHIVE_MEDIUMS, DateTime, StringEnum } from './common.js'

const Opt = Type.Optional

export const MAX_RETENTION_PAGE_SIZE = 500

export const RetentionQuerySchema = Type.Object({
  retentionThresholdDays: Type.Integer({
    minimum: 0,
    maximum: 1_000_000,
    description: 'Only recordings kept more than this many days: deleteDate minus creationTime, or no deleteDate at all.',
    examples: [30],
  }),
  cursor: Opt(Type.String({ maxLength: 1000, description: 'Opaque position from a nextUri; only valid with the same threshold.' })),
  pageSize: Opt(Type.Integer({ minimum: 1, maximum: MAX_RETENTION_PAGE_SIZE, description: `Default 25, at most ${MAX_RETENTION_PAGE_SIZE}.` })),
})
export type RetentionQuery = Static<typeof RetentionQuerySchema>

export const RecordingRetentionSchema = Type.Object(
  {
    conversationId: Opt(Type.String()),
    recordingId: Opt(Type.String()),
    archiveDate: Opt(DateTime()),
    archiveMedium: Opt(StringEnum(ARCHIVE_MEDIUMS)),
    deleteDate: Opt(DateTime()),
    exportDate: Opt(DateTime()),
    exportedDate: Opt(DateTime()),
    creationTime: Opt(DateTime()),
  },
  { title: 'RecordingRetention' },
)
export type RecordingRetention = Static<typeof RecordingRetentionSchema>

/** Genesys cursor listing (shape D): `nextUri` carries the cursor and is absent on the last page. */
export const RecordingRetentionListingSchema = Type.Object(
  {
    entities: Type.Array(RecordingRetentionSchema),
    selfUri: Type.String(),
    nextUri: Opt(Type.String()),
  },
  { title: 'RecordingRetentionCursorEntityListing' },
)
export type RecordingRetentionListing = Static<typeof RecordingRetentionListingSchema>
