import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { REQUIRES, requireAny } from '../auth/permissions.js'
import { READ_ERRORS, WRITE_ERRORS } from '../schemas/error-body.js'
import {
  BatchDownloadJobStatusResultSchema, BatchDownloadJobSubmissionResultSchema, BatchDownloadJobSubmissionSchema, BatchRequestParams,
  MAX_BATCH_DOWNLOAD_ITEMS,
} from '../schemas/batch-downloads.js'
import { KEEP_DAYS } from '../services/batch-download-service.js'

/** A batch belongs to the client that submitted it, within its organization. */
const ownerOf = (request: FastifyRequest) => ({ organizationId: request.organizationId, clientId: request.client?.clientId ?? '' })

/** `/api/v2/recording/batchrequests`: download URLs of many recordings at once, resolved in the background. */
export const batchDownloadRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { batchDownloads } = app.services
  const tags = ['Batch download']
  const path = '/api/v2/recording/batchrequests'

  app.post(path, {
    schema: {
      operationId: 'postRecordingBatchrequests',
      ...requireAny(REQUIRES.viewRecordings),
      summary: 'Submit a batch download request',
      description:
        `Up to ${MAX_BATCH_DOWNLOAD_ITEMS} items, each a conversation (all of its recordings) or one recording of it. ` +
        'The items are resolved in the background; GET the answered id for the results, one per recording: a URL of ' +
        'the media in its original format, or why there is none. Only this client can read them, for ' +
        `${KEEP_DAYS} days.`,
      tags,
      body: BatchDownloadJobSubmissionSchema,
      response: { 200: BatchDownloadJobSubmissionResultSchema, ...WRITE_ERRORS },
    },
  }, async (request) => batchDownloads.submit(ownerOf(request), request.body))

  app.get(`${path}/:jobId`, {
    schema: {
      operationId: 'getRecordingBatchrequest',
      ...requireAny(REQUIRES.viewRecordings),
      summary: 'Get the status and results of a batch download request',
      description:
        'InProgress until every item is resolved, then Completed with the results. Each resultUrl works without a ' +
        'token until it expires (the recordingBatchDownloadUrlTtl setting, 60 minutes by default); each read hands out ' +
        'fresh ones. A batch another client submitted is 404.',
      tags,
      params: BatchRequestParams,
      response: { 200: BatchDownloadJobStatusResultSchema, ...READ_ERRORS },
    },
  }, async (request) => batchDownloads.status(ownerOf(request), request.params.jobId))
}
