import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { InvalidRequestError } from '../errors.js'

/** Where a page ends: its last sort key and id, and what it was a page of. */
export interface CursorPosition {
  /** Sort key of the last row: an ISO instant, or a rank. */
  key: string | number
  id: string
}

interface Payload extends CursorPosition {
  /** Organization and digest of the filters and sort: a cursor is valid only for the listing that made it. */
  scope: string
}

/**
 * Opaque, tamper-evident keyset cursors: base64url JSON plus an HMAC. A cursor that was altered, or is replayed with
 * other filters or by another organization, is refused with 400.
 */
export function createCursorCodec(key: Uint8Array) {
  const sign = (data: string) => createHmac('sha256', key).update(data).digest().subarray(0, 16)
  const scopeOf = (organizationId: string, listing: object) =>
    createHash('sha256').update(`${organizationId}\n${JSON.stringify(listing)}`).digest('base64url').slice(0, 22)
  const refuse = () => new InvalidRequestError('The cursor is not valid for this listing (altered, or made for other filters)', 'cursor', 'querystring')

  return {
    encode(position: CursorPosition, organizationId: string, listing: object): string {
      const data = Buffer.from(JSON.stringify({ ...position, scope: scopeOf(organizationId, listing) } satisfies Payload)).toString('base64url')
      return `${data}.${sign(data).toString('base64url')}`
    },

    decode(cursor: string, organizationId: string, listing: object): CursorPosition {
      const [data, signature, extra] = cursor.split('.')
      if (!data || !signature || extra !== undefined) throw refuse()
      // Compared as text: base64url decoding ignores the low bits of the last character, so altered spellings of
      // the same bytes would pass a byte comparison.
      const expected = Buffer.from(sign(data).toString('base64url'))
      const given = Buffer.from(signature)
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw refuse()
      const payload = JSON.parse(Buffer.from(data, 'base64url').toString('utf8')) as Payload
      if (payload.scope !== scopeOf(organizationId, listing)) throw refuse()
      return { key: payload.key, id: payload.id }
    },
  }
}

export type CursorCodec = ReturnType<typeof createCursorCodec>

/** A key for cursors derived from the token signing key, so neither can stand in for the other. */
export const cursorKeyFrom = (signingKey: Uint8Array) => createHmac('sha256', signingKey).update('recording-store cursors').digest()
