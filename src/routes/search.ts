import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { REQUIRES, requireAny } from '../auth/permissions.js'
import { READ_ERRORS } from '../schemas/error-body.js'
import { SearchQuerySchema, SearchResultSchema } from '../schemas/search.js'
import { sendBody } from './json-body.js'

/** `GET /api/v2/recordings`: every recording of the organization, filtered, sorted and paged by cursor (extension). */
export const searchRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { search } = app.services
  app.get('/api/v2/recordings', {
    schema: {
      operationId: 'getRecordings',
      ...requireAny(REQUIRES.viewRecordings),
      summary: 'Search the recordings of the organization (extension)',
      description:
        'Recording metadata (no transcripts or media links) in the Genesys cursor listing: entities, selfUri, and ' +
        'nextUri (with an opaque cursor) unless this is the last page. Filters combine with AND. With q, each entity ' +
        'carries a snippet of the matching text. Paging is by keyset: a page deep in the listing costs what the first ' +
        'does, and rows added or removed meanwhile never make a page repeat or skip the others.',
      tags: ['Recording'],
      querystring: SearchQuerySchema,
      response: { 200: SearchResultSchema, ...READ_ERRORS },
    },
  }, async (request, reply) => sendBody(reply, await search.search(request.organizationId, request.query)))
}
