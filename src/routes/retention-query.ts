import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { REQUIRES, requireAny } from '../auth/permissions.js'
import { READ_ERRORS } from '../schemas/error-body.js'
import { RecordingRetentionListingSchema, RetentionQuerySchema } from '../schemas/retention.js'

/** `GET /api/v2/recordings/retention/query`: the organization's recordings kept longer than a number of days. */
export const retentionQueryRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { retention } = app.services
  app.get('/api/v2/recordings/retention/query', {
    schema: {
      operationId: 'getRecordingsRetentionQuery',
      ...requireAny(REQUIRES.queryRetention),
      summary: 'Query the retention of recordings',
      description:
        'The recordings kept more than retentionThresholdDays days (deleteDate minus creationTime; a recording without ' +
        'deleteDate is kept indefinitely), shortest retention first, in the Genesys cursor listing: entities, selfUri, ' +
        'and nextUri (with an opaque cursor) unless this is the last page.',
      tags: ['Recording'],
      querystring: RetentionQuerySchema,
      response: { 200: RecordingRetentionListingSchema, ...READ_ERRORS },
    },
  }, async (request) => retention.query(request.organizationId, request.query))
}
