import { Prisma, type PrismaClient } from '../generated/prisma/client.js'
import type { RecordingRetention, RecordingRetentionListing, RetentionQuery } from '../schemas/retention.js'
import type { CursorCodec } from './cursor.js'

const DEFAULT_PAGE_SIZE = 25
const DAY_SECONDS = 86_400

/**
 * How long a recording is kept, in seconds: delete date minus creation time, infinite without a delete date. Written
 * exactly as the expression of the index recordings_retention_span_idx, so that index serves the query.
 */
const SPAN = Prisma.raw(`coalesce(extract(epoch FROM r.delete_date - r.creation_time), 'Infinity'::numeric)`)

interface Row {
  id: string
  conversation_id: string
  archive_date: Date | null
  archive_medium: RecordingRetention['archiveMedium'] | null
  delete_date: Date | null
  export_date: Date | null
  exported_date: Date | null
  creation_time: Date
  /** SPAN as text: numeric, exact in the cursor, 'Infinity' included. */
  span: string
}

const iso = (date: Date | null) => date?.toISOString()

/** The retention query (GET /api/v2/recordings/retention/query). */
export function createRetentionService({ prisma, cursors }: { prisma: PrismaClient; cursors: CursorCodec }) {
  /** The page query, a range of the retention index read in order. Exported for plan tests. */
  function pageQuery(organizationId: string, thresholdDays: number, limit: number, after?: { key: string | number; id: string }) {
    const where = [Prisma.sql`r.organization_id = ${organizationId}::uuid`, Prisma.sql`${SPAN} > ${thresholdDays * DAY_SECONDS}::numeric`]
    if (after) where.push(Prisma.sql`(${SPAN}, r.id) > (${String(after.key)}::numeric, ${after.id}::uuid)`)
    return Prisma.sql`SELECT r.id, r.conversation_id, r.archive_date, r.archive_medium::text AS archive_medium, r.delete_date,
        r.export_date, r.exported_date, r.creation_time, ${SPAN}::text AS span
      FROM recordings r WHERE ${Prisma.join(where, ' AND ')}
      ORDER BY ${SPAN}, r.id LIMIT ${limit}`
  }

  const uri = (query: RetentionQuery, pageSize: number, cursor?: string) => {
    const params = new URLSearchParams({ retentionThresholdDays: String(query.retentionThresholdDays), pageSize: String(pageSize) })
    if (cursor) params.set('cursor', cursor)
    return `/api/v2/recordings/retention/query?${params.toString()}`
  }

  return {
    pageQuery,

    /**
     * The organization's recordings kept more than `retentionThresholdDays` days, shortest retention first (those
     * without a delete date last), by keyset cursor.
     */
    async query(organizationId: string, query: RetentionQuery): Promise<RecordingRetentionListing> {
      const pageSize = query.pageSize ?? DEFAULT_PAGE_SIZE
      const listing = { retentionThresholdDays: query.retentionThresholdDays }
      const after = query.cursor ? cursors.decode(query.cursor, organizationId, listing) : undefined
      // One row more than the page tells whether there is a next page.
      const rows = await prisma.$queryRaw<Row[]>(pageQuery(organizationId, query.retentionThresholdDays, pageSize + 1, after))
      const page = rows.slice(0, pageSize)
      const last = page.at(-1)
      const next = rows.length > pageSize && last ? cursors.encode({ key: last.span, id: last.id }, organizationId, listing) : undefined
      return {
        entities: page.map((row) => ({
          conversationId: row.conversation_id,
          recordingId: row.id,
          archiveDate: iso(row.archive_date),
          archiveMedium: row.archive_medium ?? undefined,
          deleteDate: iso(row.delete_date),
          exportDate: iso(row.export_date),
          exportedDate: iso(row.exported_date),
          creationTime: row.creation_time.toISOString(),
        })),
        selfUri: uri(query, pageSize, query.cursor),
        ...(next ? { nextUri: uri(query, pageSize, next) } : {}),
      }
    },
  }
}

export type RetentionService = ReturnType<typeof createRetentionService>
