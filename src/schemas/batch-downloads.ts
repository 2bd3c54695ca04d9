import { Type, type Static } from '@sinclair/typebox'
import { ConversationId, EXAMPLE_IDS, Int32, StringEnum } from './common.js'

const Opt = Type.Optional

export const MAX_BATCH_DOWNLOAD_ITEMS = 100

/**
 * The job id of the documented GET. A batch's id is made when it is submitted, so "Try it out" of the GET finds one
 * only where the submission example's batch was given this id (as the OpenAPI examples test does).
 */
export const EXAMPLE_BATCH_ID = '019ac0de-5b00-7a00-8b00-00000000b47c'

export const BatchDownloadRequestSchema = Type.Object(
  {
    conversationId: ConversationId,
    recordingId: Opt(Type.String({
      minLength: 1, maxLength: 128, description: 'One recording of the conversation; omit for all of its recordings.', examples: [EXAMPLE_IDS.recordingId],
    })),
  },
  { title: 'BatchDownloadRequest', additionalProperties: true },
)
export type BatchDownloadRequest = Static<typeof BatchDownloadRequestSchema>

export const BatchDownloadJobSubmissionSchema = Type.Object(
  {
    batchDownloadRequestList: Type.Array(BatchDownloadRequestSchema, {
      minItems: 1,
      maxItems: MAX_BATCH_DOWNLOAD_ITEMS,
      description: `The items to fetch, 1 to ${MAX_BATCH_DOWNLOAD_ITEMS}.`,
    }),
  },
  {
    title: 'BatchDownloadJobSubmission',
    additionalProperties: true,
    examples: [{ batchDownloadRequestList: [{ conversationId: EXAMPLE_IDS.conversationId }] }],
  },
)
export type BatchDownloadJobSubmission = Static<typeof BatchDownloadJobSubmissionSchema>

export const BatchDownloadJobSubmissionResultSchema = Type.Object(
  {
    id: Type.String({ description: 'The batch job id, the {jobId} of its results.' }),
    selfUri: Type.String(),
  },
  { title: 'BatchDownloadJobSubmissionResult' },
)
export type BatchDownloadJobSubmissionResult = Static<typeof BatchDownloadJobSubmissionResultSchema>

export const BatchDownloadJobResultSchema = Type.Object(
  {
    conversationId: Opt(Type.String()),
    recordingId: Opt(Type.String()),
    resultUrl: Opt(Type.String({ description: 'Where to GET the file, in its original format; no token needed until the URL expires.' })),
    contentType: Opt(Type.String({ description: 'Media type of the file, when known.' })),
    errorMsg: Opt(Type.String({ description: 'Why there is nothing to download for this item.' })),
  },
  { title: 'BatchDownloadJobResult' },
)
export type BatchDownloadJobResult = Static<typeof BatchDownloadJobResultSchema>

export const BATCH_DOWNLOAD_STATUSES = ['InProgress', 'Completed'] as const

export const BatchDownloadJobStatusResultSchema = Type.Object(
  {
    id: Type.String(),
    jobId: Type.String(),
    expectedResultCount: Int32('Results expected: the number of items while in progress, then the number of results.'),
    resultCount: Int32('Results available (downloads and errors).'),
    errorCount: Int32('Results that are errors.'),
    status: StringEnum(BATCH_DOWNLOAD_STATUSES),
    results: Type.Array(BatchDownloadJobResultSchema),
    selfUri: Type.String(),
  },
  { title: 'BatchDownloadJobStatusResult' },
)
export type BatchDownloadJobStatusResult = Static<typeof BatchDownloadJobStatusResultSchema>

export const BatchRequestParams = Type.Object({
  jobId: Type.String({ minLength: 1, maxLength: 128, description: 'The id answered by the submission.', examples: [EXAMPLE_BATCH_ID] }),
})
