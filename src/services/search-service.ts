import { Prisma, type PrismaClient } from '../generated/prisma/client.js'
import { InvalidRequestError } from '../errors.js'
import { instantOf } from '../schemas/date-time.js'
import { MAX_PAGE_SIZE, type SearchQuery, type SearchResult } from '../schemas/search.js'
import type { CursorCodec } from './cursor.js'
import { recordingSelfUri } from './recording-mapper.js'
import type { Body } from './recording-service.js'
import { selectMetadataOf } from './recording-sql.js'

const DEFAULT_PAGE_SIZE = 25
/** Markers around matches in snippets: plain text, safe to show as is or to turn into markup. */
const HEADLINE = 'StartSel=**, StopSel=**, MaxFragments=2, FragmentDelimiter=" … ", MaxWords=18, MinWords=6'

const FILTERS = [
  'conversationId', 'media', 'mediaSubtype', 'fileState', 'recordingFileRole', 'userId', 'startTime', 'creationTime',
  'archiveDateBefore', 'deleteDateBefore', 'q',
] as const satisfies readonly (keyof SearchQuery)[]

/** `a/b`, `a/`, `/b`, `../b`: the instants of an interval, open sides undefined. */
function parseInterval(field: string, value: string): { from?: Date; to?: Date } {
  const side = (text: string | undefined) => {
    if (text === undefined || text === '' || text === '..') return undefined
    const date = instantOf(text)
    if (!date) {
      throw new InvalidRequestError(`${field} must be an ISO-8601 interval start/end; "${text}" is not a date-time`, field, 'querystring')
    }
    return date
  }
  const [from, to] = value.split('/')
  return { from: side(from), to: side(to) }
}

/**
 * websearch syntax (words, "phrases", -not, OR) plus prefixes written `word*`, which websearch_to_tsquery would drop.
 * Prefix words keep letters and digits only, so they can be handed to to_tsquery safely.
 */
function textQuery(q: string): Prisma.Sql {
  const prefixes: string[] = []
  const rest = q.replace(/(^|\s)([\p{L}\p{N}_]+)\*(?=\s|$)/gu, (_match, space: string, word: string) => {
    prefixes.push(word)
    return space
  })
  const parts = [
    ...(rest.trim() ? [Prisma.sql`websearch_to_tsquery(recording_search_config(), ${rest})`] : []),
    ...prefixes.map((word) => Prisma.sql`to_tsquery(recording_search_config(), ${`${word}:*`})`),
  ]
  // No words at all: an empty query, which matches nothing. A scalar subquery is computed once per statement (the
  // configuration function is only STABLE, so inline it would be evaluated for every row filtered), and lets the
  // planner consider the full-text index.
  return parts.length === 0 ? Prisma.sql`''::tsquery` : Prisma.sql`(SELECT ${Prisma.join(parts, ' && ')})`
}

export function createSearchService({ prisma, cursors }: { prisma: PrismaClient; cursors: CursorCodec }) {
  /**
   * The page query: ids, conversations and sort keys only, read off an index led by the organization. Exported for
   * plan tests.
   */
  function pageQuery(organizationId: string, query: SearchQuery, after?: { key: string | number; id: string }, limit = DEFAULT_PAGE_SIZE) {
    const sortBy = query.sortBy ?? 'startTime'
    if (sortBy === 'relevance' && !query.q) throw new InvalidRequestError('sortBy=relevance needs q', 'sortBy', 'querystring')
    const descending = (query.sortOrder ?? 'desc') === 'desc'
    const tsquery = query.q ? textQuery(query.q) : undefined
    const key =
      sortBy === 'relevance' ? Prisma.sql`ts_rank_cd(r.search_vector, ${tsquery})::float8`
      : sortBy === 'creationTime' ? Prisma.sql`r.creation_time`
      : Prisma.sql`r.sort_time`

    const where: Prisma.Sql[] = [Prisma.sql`r.organization_id = ${organizationId}::uuid`]
    if (query.conversationId) where.push(Prisma.sql`r.conversation_id = ${query.conversationId}`)
    if (query.media) where.push(Prisma.sql`r.media = ${query.media}`)
    if (query.mediaSubtype) where.push(Prisma.sql`r.media_subtype = ${query.mediaSubtype}::"MediaSubtype"`)
    if (query.fileState) where.push(Prisma.sql`r.file_state = ${query.fileState}::"FileState"`)
    if (query.recordingFileRole) where.push(Prisma.sql`r.recording_file_role = ${query.recordingFileRole}::"RecordingFileRole"`)
    if (query.userId) {
      where.push(Prisma.sql`EXISTS (SELECT 1 FROM recording_users u
        WHERE u.organization_id = ${organizationId}::uuid AND u.user_id = ${query.userId} AND u.recording_id = r.id)`)
    }
    if (query.startTime) {
      // sort_time equals start_time wherever there is one: its indexes serve the interval too.
      const { from, to } = parseInterval('startTime', query.startTime)
      where.push(Prisma.sql`r.start_time IS NOT NULL`)
      if (from) where.push(Prisma.sql`r.sort_time >= ${from}`)
      if (to) where.push(Prisma.sql`r.sort_time < ${to}`)
    }
    if (query.creationTime) {
      const { from, to } = parseInterval('creationTime', query.creationTime)
      if (from) where.push(Prisma.sql`r.creation_time >= ${from}`)
      if (to) where.push(Prisma.sql`r.creation_time < ${to}`)
    }
    if (query.archiveDateBefore) where.push(Prisma.sql`r.archive_date < ${new Date(query.archiveDateBefore)}`)
    if (query.deleteDateBefore) where.push(Prisma.sql`r.delete_date < ${new Date(query.deleteDateBefore)}`)
    if (tsquery) where.push(Prisma.sql`r.search_vector @@ (${tsquery})`)
    if (after) {
      const position = typeof after.key === 'number' ? Prisma.sql`${after.key}::float8` : Prisma.sql`${new Date(after.key)}::timestamptz`
      where.push(descending ? Prisma.sql`(${key}, r.id) < (${position}, ${after.id}::uuid)` : Prisma.sql`(${key}, r.id) > (${position}, ${after.id}::uuid)`)
    }
    const direction = Prisma.raw(descending ? 'DESC' : 'ASC')
    // "Due before" filters select the far (oldest) end of the default order, which the planner cannot know: walking
    // the sort index would pass nearly every row. Ordering by an expression the sort index does not cover makes it
    // read the matches off the due-date index and sort those instead.
    const dueFilter = (query.archiveDateBefore || query.deleteDateBefore) && sortBy !== 'relevance'
    const orderKey = dueFilter ? Prisma.sql`(${key} + interval '0 seconds')` : key
    return Prisma.sql`SELECT r.id, r.conversation_id, ${key} AS key FROM recordings r
      WHERE ${Prisma.join(where, ' AND ')}
      ORDER BY ${orderKey} ${direction}, r.id ${direction}
      LIMIT ${limit}`
  }

  /** Highlighted excerpts of the text that matched, for the recordings of one page. */
  async function snippets(ids: string[], q: string): Promise<Map<string, string>> {
    const rows = await prisma.$queryRaw<{ id: string; snippet: string }[]>`
      SELECT r.id, ts_headline(recording_search_config(), concat_ws(' ',
          r.name, r.media_subject,
          (SELECT string_agg(c.body, ' ' ORDER BY c.ordinal) FROM chat_messages c WHERE c.recording_id = r.id),
          (SELECT string_agg(concat_ws(' ', e.subject, e.text_body), ' ' ORDER BY e.ordinal) FROM email_messages e WHERE e.recording_id = r.id),
          (SELECT string_agg(m.message_text, ' ' ORDER BY m.ordinal) FROM messaging_messages m WHERE m.recording_id = r.id)),
        ${textQuery(q)}, ${HEADLINE}) AS snippet
      FROM recordings r WHERE r.id = ANY(${ids}::uuid[])`
    return new Map(rows.map((row) => [row.id, row.snippet]))
  }

  /** What makes two requests the same listing: a cursor is only valid for its own. */
  const listingOf = (query: SearchQuery) => ({
    ...Object.fromEntries(FILTERS.filter((name) => query[name] !== undefined).map((name) => [name, query[name]])),
    sortBy: query.sortBy ?? 'startTime',
    sortOrder: query.sortOrder ?? 'desc',
  })

  function uri(listing: ReturnType<typeof listingOf>, pageSize: number, cursor?: string) {
    const params = new URLSearchParams()
    for (const [name, value] of Object.entries(listing)) params.set(name, String(value))
    params.set('pageSize', String(pageSize))
    if (cursor) params.set('cursor', cursor)
    return `/api/v2/recordings?${params.toString()}`
  }

  return {
    pageQuery,

    /**
     * Makes `language` the text search configuration of the full-text documents. A change rebuilds every document, in
     * one transaction, so searches never mix two configurations.
     */
    async useLanguage(language: string): Promise<{ changed: boolean; rebuilt: number }> {
      const [check] = await prisma.$queryRaw<{ known: boolean }[]>`SELECT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = ${language}) AS known`
      if (!check?.known) throw new Error(`SEARCH_LANGUAGE=${language} is not a text search configuration of this PostgreSQL`)
      const current = await prisma.setting.findUnique({ where: { name: 'search_language' } })
      if (current?.value === language) return { changed: false, rebuilt: 0 }
      return prisma.$transaction(
        async (tx) => {
          await tx.setting.upsert({ where: { name: 'search_language' }, create: { name: 'search_language', value: language }, update: { value: language } })
          // A rebuild of every document is not a request: it may take longer than DATABASE_STATEMENT_TIMEOUT_MS.
          await tx.$executeRaw`SET LOCAL statement_timeout = 0`
          const rebuilt = await tx.$executeRaw`UPDATE recordings SET search_vector = recording_search_document(id, name, media_subject)`
          return { changed: true, rebuilt }
        },
        { timeout: 30 * 60_000 },
      )
    },

    /**
     * One page of the organization's recordings, newest (or most relevant) first unless asked otherwise, as JSON
     * text: the entities are the metadata JSON that PostgreSQL builds, as for GET recordingmetadata.
     */
    async search(organizationId: string, query: SearchQuery): Promise<Body<SearchResult>> {
      const pageSize = Math.min(query.pageSize ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
      const listing = listingOf(query)
      const after = query.cursor ? cursors.decode(query.cursor, organizationId, listing) : undefined
      // One row more than the page tells whether there is a next page.
      const rows = await prisma.$queryRaw<{ id: string; conversation_id: string; key: Date | number }[]>(pageQuery(organizationId, query, after, pageSize + 1))
      const page = rows.slice(0, pageSize)
      const last = page.at(-1)

      const ids = page.map((row) => row.id)
      const [entities, excerpts] = page.length === 0 ? [[], new Map<string, string>()] : await Promise.all([
        selectMetadataOf(prisma, organizationId, ids, page.map((row) => recordingSelfUri(row.conversation_id, ''))),
        query.q ? snippets(ids, query.q) : new Map<string, string>(),
      ])
      const next = rows.length > pageSize && last
        ? cursors.encode({ key: last.key instanceof Date ? last.key.toISOString() : last.key, id: last.id }, organizationId, listing)
        : undefined
      // The metadata objects are never empty (an id at least), so a snippet joins them as one more member.
      const hits = entities.map(({ id, json }) => {
        const snippet = excerpts.get(id)
        return snippet === undefined ? json : `${json.slice(0, -1)},"snippet":${JSON.stringify(snippet)}}`
      })
      const uriOf = (cursor?: string) => JSON.stringify(uri(listing, pageSize, cursor))
      return {
        json: `{"entities":[${hits.join(',')}],"pageSize":${pageSize},"selfUri":${uriOf(query.cursor)}${next ? `,"nextUri":${uriOf(next)}` : ''}}`,
      }
    },
  }
}

export type SearchService = ReturnType<typeof createSearchService>
