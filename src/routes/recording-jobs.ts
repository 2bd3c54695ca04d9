import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { REQUIRES, requireAll, requireAny } from '../auth/permissions.js'
import { errorResponses, NoContent, READ_ERRORS, WRITE_ERRORS } from '../schemas/error-body.js'
import {
  ExecuteRecordingJobsQuerySchema, FailedRecordingEntityListingSchema, FailedRecordingsQuery, RecordingJobEntityListingSchema,
  RecordingJobListQuery, RecordingJobParams, RecordingJobSchema, RecordingJobsQuerySchema,
} from '../schemas/recording-jobs.js'
import { MAX_ACTIVE_JOBS } from '../services/recording-job-service.js'

const ownerOf = (request: FastifyRequest) => ({ organizationId: request.organizationId, clientId: request.client?.clientId ?? '' })

const CONFLICT = errorResponses(409)

/** `/api/v2/recording/jobs`: bulk archive, delete and export of the recordings a conversation query selects. */
export const recordingJobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { recordingJobs } = app.services
  const tags = ['Recording jobs']
  const path = '/api/v2/recording/jobs'

  app.post(path, {
    schema: {
      operationId: 'postRecordingJobs',
      ...requireAny(REQUIRES.addRecordingJob),
      summary: 'Create a recording bulk job',
      description:
        'Answers 202 with the job PENDING; a background job collects the recordings the conversation query selects and ' +
        'makes it READY with totalConversations and totalRecordings. Nothing changes until its creator executes it (PUT). ' +
        'DELETE sets deleteDate, ARCHIVE archiveDate, EXPORT exportDate (to integrationId, an export target of this store): ' +
        'actionDate, or each recording\'s creationTime plus actionAge days (screen recordings: the screen variants when ' +
        'given). The retention sweep and the export job then act on the dates. The query\'s interval selects recordings ' +
        'whose time span overlaps it; filters: conversationId, mediaType and userId predicates (operator matches), and/or. ' +
        `At most ${MAX_ACTIVE_JOBS} jobs of an organization may be PENDING or PROCESSING (else 409).`,
      tags,
      body: RecordingJobsQuerySchema,
      response: { 202: RecordingJobSchema, ...WRITE_ERRORS, ...CONFLICT },
    },
  }, async (request, reply) => reply.code(202).send(await recordingJobs.create(ownerOf(request), request.body)))

  app.get(path, {
    schema: {
      operationId: 'getRecordingJobs',
      ...requireAny(REQUIRES.viewRecordingJobs),
      summary: 'List the recording jobs of the organization',
      description: 'Page-number listing; with includeTotal=false, cursor paging (no total, pageCount nor lastUri; nextUri carries the cursor).',
      tags,
      querystring: RecordingJobListQuery,
      response: { 200: RecordingJobEntityListingSchema, ...READ_ERRORS },
    },
  }, async (request) => recordingJobs.list(ownerOf(request), request.query))

  app.get(`${path}/:jobId`, {
    schema: {
      operationId: 'getRecordingJob',
      ...requireAny(REQUIRES.viewRecordingJobs),
      summary: 'Get a recording job: its state and progress',
      tags,
      params: RecordingJobParams,
      response: { 200: RecordingJobSchema, ...READ_ERRORS },
    },
  }, async (request) => recordingJobs.get(request.organizationId, request.params.jobId))

  app.put(`${path}/:jobId`, {
    schema: {
      operationId: 'putRecordingJob',
      ...requireAll(REQUIRES.executeRecordingJob),
      summary: 'Execute a READY recording job',
      description:
        'state PROCESSING (the only value) executes a READY job, in batches, until FULFILLED. Only the client that created ' +
        'the job may execute it (else 403); a job that is not READY is 409. DELETE skips recordings of conversations under ' +
        'deletion protection (totalSkippedRecordings).',
      tags,
      params: RecordingJobParams,
      body: ExecuteRecordingJobsQuerySchema,
      response: { 200: RecordingJobSchema, ...WRITE_ERRORS, ...CONFLICT },
    },
  }, async (request) => recordingJobs.execute(ownerOf(request), request.params.jobId, request.body))

  app.delete(`${path}/:jobId`, {
    schema: {
      operationId: 'deleteRecordingJob',
      ...requireAny(REQUIRES.deleteRecordingJob),
      summary: 'Cancel or remove a recording job',
      description: 'A job not finished is CANCELLED (the dates it set so far stay); a finished one is removed.',
      tags,
      params: RecordingJobParams,
      response: { 204: NoContent, ...READ_ERRORS },
    },
  }, async (request, reply) => {
    await recordingJobs.cancel(request.organizationId, request.params.jobId)
    return reply.code(204).send()
  })

  app.get(`${path}/:jobId/failedrecordings`, {
    schema: {
      operationId: 'getRecordingJobFailedrecordings',
      ...requireAny(REQUIRES.viewRecordingJobs),
      summary: 'List the recordings a job failed on',
      description: 'With the reason of each (this store); includeTotal=false switches to cursor paging.',
      tags,
      params: RecordingJobParams,
      querystring: FailedRecordingsQuery,
      response: { 200: FailedRecordingEntityListingSchema, ...READ_ERRORS },
    },
  }, async (request) => recordingJobs.failedRecordings(request.organizationId, request.params.jobId, request.query))
}
