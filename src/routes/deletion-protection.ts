import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { REQUIRES, requireAny } from '../auth/permissions.js'
import { InvalidRequestError } from '../errors.js'
import { WRITE_ERRORS } from '../schemas/error-body.js'
import {
  ConversationDeletionProtectionQuerySchema, ManageDeleteProtectionResultSchema, ProtectedConversationListSchema, ProtectQuery,
} from '../schemas/deletion-protection.js'
import { audit } from './audit.js'

/** `/api/v2/recordings/deletionprotection`: which conversations are protected from deletion, and protecting them. */
export const deletionProtectionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deletionProtection } = app.services
  const tags = ['Deletion protection']
  const path = '/api/v2/recordings/deletionprotection'

  app.post(path, {
    schema: {
      operationId: 'postRecordingsDeletionprotection',
      ...requireAny(REQUIRES.viewRecordings),
      summary: 'Get the protected conversations among those given',
      description: 'A read: answers the conversations of the body (at most 100) that are under deletion protection.',
      tags,
      body: ConversationDeletionProtectionQuerySchema,
      response: { 200: ProtectedConversationListSchema, ...WRITE_ERRORS },
    },
  }, async (request) => deletionProtection.list(request.organizationId, request.body))

  app.put(path, {
    schema: {
      operationId: 'putRecordingsDeletionprotection',
      ...requireAny(REQUIRES.manageDeletionProtection),
      summary: 'Apply or revoke the deletion protection of conversations',
      description:
        'protect=true (the default) protects the conversations of the body (at most 100; recordings of them may come ' +
        'later) and needs recording:deletionProtection:apply; protect=false lifts it and needs ' +
        'recording:deletionProtection:revoke. While protected, no recording of the conversation can be deleted (409 ' +
        'recording.deletion.protected) nor have its deleteDate brought forward. The body is required.',
      tags,
      querystring: ProtectQuery,
      body: ConversationDeletionProtectionQuerySchema,
      response: { 200: ManageDeleteProtectionResultSchema, ...WRITE_ERRORS },
    },
    // The SDK sends this PUT without a body when none is given (Content-Length: 0): say what is missing.
    preValidation: async (request) => {
      if (request.body === undefined) throw new InvalidRequestError('conversationIds required: the body is a ConversationDeletionProtectionQuery', 'conversationIds')
    },
  }, async (request) => {
    const granted = new Set(request.client?.permissions ?? [])
    const protect = request.query.protect ?? true
    const result = await deletionProtection.set(request.organizationId, request.body, protect, {
      apply: granted.has('recording:deletionProtection:apply'),
      revoke: granted.has('recording:deletionProtection:revoke'),
    })
    audit(request, protect ? 'deletionProtection.apply' : 'deletionProtection.revoke', { conversationIds: request.body.conversationIds.join(',') })
    return result
  })
}
