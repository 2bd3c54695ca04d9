import { Type, type Static } from '@sinclair/typebox'
import { FILE_STATES, MEDIA_KINDS, MEDIA_SUBTYPES, RECORDING_FILE_ROLES, StringEnum } from './common.js'
import { RecordingMetadataSchema } from './recording.js'

const Opt = Type.Optional

export const MAX_PAGE_SIZE = 100

/** ISO-8601 interval `start/end`, either side open (empty or `..`): `2024-05-01T00:00:00Z/2024-05-08T00:00:00Z`. */
const Interval = (description: string) =>
  Type.String({ pattern: '^[^/]*/[^/]*$', maxLength: 100, description: `${description} ISO-8601 interval start/end (start included, end excluded); either side may be empty.` })

export const SearchQuerySchema = Type.Object({
  conversationId: Opt(Type.String({ minLength: 1, maxLength: 128 })),
  media: Opt(StringEnum(MEDIA_KINDS)),
  mediaSubtype: Opt(StringEnum(MEDIA_SUBTYPES)),
  fileState: Opt(StringEnum(FILE_STATES)),
  recordingFileRole: Opt(StringEnum(RECORDING_FILE_ROLES)),
  userId: Opt(Type.String({ minLength: 1, maxLength: 128, description: 'Recordings in which this user took part.' })),
  startTime: Opt(Interval('Recordings whose media starts in this interval.')),
  creationTime: Opt(Interval('Recordings stored in this interval.')),
  archiveDateBefore: Opt(Type.String({ format: 'date-time', description: 'Recordings due for archiving before this instant.' })),
  deleteDateBefore: Opt(Type.String({ format: 'date-time', description: 'Recordings due for deletion before this instant.' })),
  q: Opt(Type.String({
    minLength: 1,
    maxLength: 500,
    description:
      'Full text over names, subjects and transcripts: words (all must match), "quoted phrases", -excluded words, ' +
      'OR, and prefixes written word*.',
  })),
  sortBy: Opt(StringEnum(['startTime', 'creationTime', 'relevance'], {
    description: 'Default startTime (recordings without one sort at their creation time); relevance needs q.',
  })),
  sortOrder: Opt(StringEnum(['asc', 'desc'], { description: 'Default desc: newest or most relevant first.' })),
  pageSize: Opt(Type.Integer({ minimum: 1, description: `Default 25; larger than ${MAX_PAGE_SIZE} is treated as ${MAX_PAGE_SIZE}.` })),
  cursor: Opt(Type.String({ maxLength: 1000, description: 'Opaque position from a nextUri; only valid with the same filters.' })),
})
export type SearchQuery = Static<typeof SearchQuerySchema>

export const SearchHitSchema = Type.Object(
  {
    ...RecordingMetadataSchema.properties,
    snippet: Opt(Type.String({ description: 'With q: a short excerpt of the matching text, matches marked **like this**.' })),
  },
  { title: 'RecordingSearchHit' },
)
export type SearchHit = Static<typeof SearchHitSchema>

/** Genesys cursor listing (shape D): `nextUri` carries the cursor and is absent on the last page. */
export const SearchResultSchema = Type.Object(
  {
    entities: Type.Array(SearchHitSchema),
    pageSize: Type.Integer(),
    selfUri: Type.String(),
    nextUri: Opt(Type.String()),
  },
  { title: 'RecordingSearchEntityListing' },
)
export type SearchResult = Static<typeof SearchResultSchema>
