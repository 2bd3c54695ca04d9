import { randomUUID } from 'node:crypto'
import type { Prisma, PrismaClient } from '../generated/prisma/client.js'

/** Whose key it is: keys of different clients (and organizations) never meet. */
export interface IdempotencyScope {
  organizationId: string
  clientId: string
  key: string
}

/** A key this request holds: the attempt `claim` may store its answer. */
export interface HeldClaim {
  scope: IdempotencyScope
  claim: string
}

/** The first successful answer, as it is replayed. */
export interface StoredAnswer {
  statusCode: number
  headers: Record<string, string>
  body: string
}

export type ClaimOutcome =
  | { outcome: 'claimed'; claim: string }
  | { outcome: 'replay'; answer: StoredAnswer }
  | { outcome: 'in-flight' }
  | { outcome: 'mismatch' }

export interface IdempotencyOptions {
  prisma: PrismaClient
  /** How long a key and its answer are kept. */
  ttlHours: number
  /** Age after which an unfinished claim counts as abandoned (its process died) and a retry may take the key over. */
  abandonAfterMs: number
}

/**
 * Stores the answer of the attempt holding `held` through `db`: in the transaction that writes what the answer
 * describes, both commit together (the plugin's `complete` then finds the answer stored and changes nothing).
 */
export async function storeAnswer(db: Pick<Prisma.TransactionClient, '$executeRaw'>, held: HeldClaim, answer: StoredAnswer): Promise<void> {
  await db.$executeRaw`
    UPDATE idempotency_keys SET status_code = ${answer.statusCode}::int, response_headers = ${JSON.stringify(answer.headers)}::jsonb,
      response_body = ${answer.body}
    WHERE organization_id = ${held.scope.organizationId}::uuid AND client_id = ${held.scope.clientId} AND key = ${held.scope.key}
      AND claim = ${held.claim}::uuid AND status_code IS NULL`
}

/**
 * Idempotency keys in PostgreSQL, so that every instance sees them. A key is claimed atomically by one INSERT; the
 * attempt that holds the claim later stores its answer (success) or deletes the claim (failure), each only while the
 * claim is still its own.
 */
export function createIdempotencyService({ prisma, ttlHours, abandonAfterMs }: IdempotencyOptions) {
  const where = (s: IdempotencyScope) => ({ organizationId: s.organizationId, clientId: s.clientId, key: s.key })

  return {
    /**
     * Claims the key for this request, or says why not. An expired key, or a claim abandoned by a dead process for
     * the same request, is taken over in the same statement; a released claim found between the two statements
     * means another round.
     */
    async claim(scope: IdempotencyScope, fingerprint: string): Promise<ClaimOutcome> {
      for (let round = 0; round < 3; round++) {
        const claim = randomUUID()
        const [taken] = await prisma.$queryRaw<{ claim: string }[]>`
          INSERT INTO idempotency_keys (organization_id, client_id, key, fingerprint, claim, claimed_at, expires_at)
          VALUES (${scope.organizationId}::uuid, ${scope.clientId}, ${scope.key}, ${fingerprint}, ${claim}::uuid, now(),
                  now() + make_interval(hours => ${ttlHours}::int))
          ON CONFLICT (organization_id, client_id, key) DO UPDATE SET
            fingerprint = EXCLUDED.fingerprint, claim = EXCLUDED.claim, claimed_at = EXCLUDED.claimed_at,
            expires_at = EXCLUDED.expires_at, status_code = NULL, response_headers = NULL, response_body = NULL
          WHERE idempotency_keys.expires_at <= now()
             OR (idempotency_keys.status_code IS NULL AND idempotency_keys.fingerprint = EXCLUDED.fingerprint
                 AND idempotency_keys.claimed_at <= now() - make_interval(secs => ${abandonAfterMs / 1000}::float8))
          RETURNING claim::text`
        if (taken?.claim === claim) return { outcome: 'claimed', claim }
        const [row] = await prisma.$queryRaw<{ fingerprint: string; status_code: number | null; response_headers: Record<string, string> | null; response_body: string | null }[]>`
          SELECT fingerprint, status_code, response_headers, response_body FROM idempotency_keys
          WHERE organization_id = ${scope.organizationId}::uuid AND client_id = ${scope.clientId} AND key = ${scope.key} AND expires_at > now()`
        if (!row) continue
        if (row.fingerprint !== fingerprint) return { outcome: 'mismatch' }
        if (row.status_code === null) return { outcome: 'in-flight' }
        return { outcome: 'replay', answer: { statusCode: row.status_code, headers: row.response_headers ?? {}, body: row.response_body ?? '' } }
      }
      return { outcome: 'in-flight' }
    },

    /** Stores the answer of the attempt holding `claim`, unless the write stored it already (insertRecording, storeAnswer). */
    async complete(scope: IdempotencyScope, claim: string, answer: StoredAnswer): Promise<void> {
      await prisma.idempotencyKey.updateMany({
        where: { ...where(scope), claim, statusCode: null },
        data: { statusCode: answer.statusCode, responseHeaders: answer.headers, responseBody: answer.body },
      })
    },

    /** Gives the key back after a failed attempt, so that a retry can proceed. */
    async release(scope: IdempotencyScope, claim: string): Promise<void> {
      await prisma.idempotencyKey.deleteMany({ where: { ...where(scope), claim, statusCode: null } })
    },

    /** Deletes expired keys in batches (each its own statement); answers how many. */
    async sweep(batch = 1000): Promise<number> {
      let total = 0
      for (;;) {
        const deleted = await prisma.$executeRaw`
          DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT ${batch}::int FOR UPDATE SKIP LOCKED))`
        total += deleted
        if (deleted < batch) return total
      }
    },
  }
}

export type IdempotencyService = ReturnType<typeof createIdempotencyService>
