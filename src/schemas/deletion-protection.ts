import { Type, type Static } from '@sinclair/typebox'
import { ConversationId } from './common.js'

const Opt = Type.Optional

/** A conversation in no example recording, so trying the protection examples leaves the example recording deletable. */
const EXAMPLE_PROTECTED = '5f0c2a7e-9b41-4d3a-8e6f-1c2b3d4e5f60'

export const MAX_PROTECTION_IDS = 100

export const ConversationDeletionProtectionQuerySchema = Type.Object(
  { conversationIds: Type.Array(ConversationId, { maxItems: MAX_PROTECTION_IDS, description: `At most ${MAX_PROTECTION_IDS} conversation ids.` }) },
  { title: 'ConversationDeletionProtectionQuery', additionalProperties: true, examples: [{ conversationIds: [EXAMPLE_PROTECTED] }] },
)
export type ConversationDeletionProtectionQuery = Static<typeof ConversationDeletionProtectionQuerySchema>

export const ConversationReferenceSchema = Type.Object(
  { id: Opt(Type.String()), selfUri: Opt(Type.String()) },
  { title: 'ConversationReference' },
)
export type ConversationReference = Static<typeof ConversationReferenceSchema>

export const ProtectedConversationListSchema = Type.Array(ConversationReferenceSchema, {
  description: 'The conversations among those asked about that are under deletion protection.',
})

export const ManageDeleteProtectionResultSchema = Type.Object(
  {
    failedUpdates: Opt(Type.Array(
      Type.Object(
        { conversation: Opt(ConversationReferenceSchema), errorMessage: Opt(Type.String()), errorCode: Opt(Type.String()) },
        { title: 'FailedDeleteProtectionUpdate' },
      ),
    )),
  },
  { title: 'ManageDeleteProtectionResult' },
)
export type ManageDeleteProtectionResult = Static<typeof ManageDeleteProtectionResultSchema>

export const ProtectQuery = Type.Object({
  protect: Opt(Type.Boolean({ default: true, description: 'true protects the conversations, false lifts their protection.', examples: [true] })),
})
