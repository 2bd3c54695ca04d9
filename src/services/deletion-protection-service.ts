import { Prisma, type PrismaClient } from '../generated/prisma/client.js'
import { DomainError, ForbiddenError } from '../errors.js'
import type {
  ConversationDeletionProtectionQuery, ConversationReference, ManageDeleteProtectionResult,
} from '../schemas/deletion-protection.js'

/**
 * The rule in SQL, for whatever selects recordings to delete (the retention sweep): a recording `alias` may be deleted
 * only when this holds. The table is protected_conversations (organization_id uuid, conversation_id text), one row per
 * protected conversation of an organization. A delete that ignores it fails anyway (the recordings_deletion_protection
 * trigger); selecting with it keeps one protected recording from failing a whole batch.
 */
export const notProtected = (alias = 'r') =>
  Prisma.raw(`NOT EXISTS (SELECT FROM protected_conversations p WHERE p.organization_id = ${alias}.organization_id AND p.conversation_id = ${alias}.conversation_id)`)

/** What the trigger raises when a delete reaches a protected recording (this store's own SQLSTATE). */
export const DELETION_PROTECTED_SQLSTATE = 'RS409'

export class DeletionProtectedError extends DomainError {
  constructor(conversationId: string, what: string) {
    super(409, 'recording.deletion.protected', `Conversation ${conversationId} is under deletion protection: ${what}`)
  }
}

/** Whether a database error is the protection trigger's refusal, in any of the shapes Prisma and its adapter wrap it in. */
export function isDeletionProtected(error: unknown): boolean {
  const queue: unknown[] = [error]
  for (let seen = 0; queue.length > 0 && seen < 8; seen++) {
    const item = queue.shift()
    if (typeof item !== 'object' || item === null) continue
    const { code, originalCode, cause, meta } = item as Record<string, unknown>
    if (code === DELETION_PROTECTED_SQLSTATE || originalCode === DELETION_PROTECTED_SQLSTATE) return true
    queue.push(cause, (meta as Record<string, unknown> | undefined)?.driverAdapterError)
  }
  return false
}

/** What can run SQL: the client, or the client of an interactive transaction. */
type Db = Pick<Prisma.TransactionClient, 'protectedConversation'>

export async function isProtected(db: Db, organizationId: string, conversationId: string): Promise<boolean> {
  const row = await db.protectedConversation.findUnique({ where: { organizationId_conversationId: { organizationId, conversationId } }, select: { conversationId: true } })
  return row !== null
}

/**
 * While its conversation is protected, a recording's deleteDate may stay as stored, be cleared or move later, never
 * earlier (no date is "never") nor into the past.
 */
export async function assertDeleteDateKept(
  db: Db,
  key: { organizationId: string; conversationId: string },
  next: Date | null,
  stored: Date | null,
): Promise<void> {
  if (next === null || next.getTime() === stored?.getTime()) return
  if (stored !== null && next > stored && next.getTime() > Date.now()) return
  if (await isProtected(db, key.organizationId, key.conversationId)) {
    throw new DeletionProtectedError(key.conversationId, 'the deleteDate of its recordings cannot be brought forward')
  }
}

const reference = (conversationId: string): ConversationReference => ({
  id: conversationId,
  selfUri: `/api/v2/conversations/${encodeURIComponent(conversationId)}`,
})

/** Deletion protection (legal hold) of conversations, per organization. */
export function createDeletionProtectionService({ prisma }: { prisma: PrismaClient }) {
  return {
    /** The conversations among `conversationIds` that are protected, in the order asked. */
    async list(organizationId: string, { conversationIds }: ConversationDeletionProtectionQuery): Promise<ConversationReference[]> {
      const rows = await prisma.protectedConversation.findMany({
        where: { organizationId, conversationId: { in: conversationIds } },
        select: { conversationId: true },
      })
      const found = new Set(rows.map((row) => row.conversationId))
      return [...new Set(conversationIds)].filter((id) => found.has(id)).map(reference)
    },

    /**
     * Protects (or, with `protect` false, releases) the conversations. Protecting needs
     * recording:deletionProtection:apply, releasing recording:deletionProtection:revoke. Either is idempotent, and a
     * conversation may be protected before any recording of it arrives.
     */
    async set(
      organizationId: string,
      input: ConversationDeletionProtectionQuery,
      protect: boolean,
      may: { apply: boolean; revoke: boolean },
    ): Promise<ManageDeleteProtectionResult> {
      if (protect && !may.apply) throw new ForbiddenError('Missing permission: protecting conversations needs recording:deletionProtection:apply')
      if (!protect && !may.revoke) throw new ForbiddenError('Missing permission: lifting a protection needs recording:deletionProtection:revoke')
      const conversationIds = [...new Set(input.conversationIds)]
      if (protect) {
        await prisma.protectedConversation.createMany({ data: conversationIds.map((conversationId) => ({ organizationId, conversationId })), skipDuplicates: true })
      } else {
        await prisma.protectedConversation.deleteMany({ where: { organizationId, conversationId: { in: conversationIds } } })
      }
      return { failedUpdates: [] }
    },
  }
}

export type DeletionProtectionService = ReturnType<typeof createDeletionProtectionService>
