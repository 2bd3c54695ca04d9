import { createHmac, timingSafeEqual } from 'node:crypto'

/** Lifetime of a signed playback URL. The organization's `recordingPlaybackUrlTtl` (2–60 minutes) replaces it later. */
export const PLAYBACK_URL_TTL_MINUTES = 60

/** The rendition name of a recording's stored media (one file per recording), as in Genesys' audio `mediaUris`. */
export const STORED_RENDITION = 'S'

/**
 * Path of the public media route; the signature in its query is the credential. Outside /api/v2, where every
 * operation takes a bearer token: an <audio> tag cannot send one.
 */
export const MEDIA_URL_PATH = '/media/:organizationId/:recordingId/:rendition'

/** A key for playback URLs derived from the token signing key, so no other signed value can stand in for one. */
export const mediaUrlKeyFrom = (signingKey: Uint8Array) => createHmac('sha256', signingKey).update('recording-store media urls').digest()

export interface MediaUrlClaims {
  organizationId: string
  recordingId: string
  rendition: string
}

/** What a presented URL is: valid until `expiresAt`, expired, or not one this service signed (altered in any part). */
export type Verdict = { ok: true; expiresAt: Date } | { ok: false; reason: 'invalid' | 'expired' }

const EXPIRES = /^[1-9][0-9]{0,11}$/

/**
 * Signed playback URLs: `<base>/media/<organization>/<recording>/<rendition>?expires=<unix seconds>&signature=<HMAC>`,
 * the HMAC-SHA256 over organization, recording, rendition and expiry. Whoever holds one may read that rendition until
 * it expires; nothing else is granted.
 */
export function createMediaUrlSigner({ key, baseUrl }: { key: Uint8Array; baseUrl: string }) {
  const origin = baseUrl.replace(/\/+$/, '')
  const mac = ({ organizationId, recordingId, rendition }: MediaUrlClaims, expires: string) =>
    createHmac('sha256', key).update(`media\n${organizationId}\n${recordingId}\n${rendition}\n${expires}`).digest('base64url')

  return {
    sign(claims: MediaUrlClaims & { expiresAt: Date }): string {
      const expires = String(Math.floor(claims.expiresAt.getTime() / 1000))
      const path = [claims.organizationId, claims.recordingId, claims.rendition].map(encodeURIComponent).join('/')
      return `${origin}/media/${path}?expires=${expires}&signature=${mac(claims, expires)}`
    },

    /** Checks a presented URL's parts; the signature is compared in constant time, as text. */
    verify(claims: MediaUrlClaims & { expires: string | undefined; signature: string | undefined }, now = new Date()): Verdict {
      const { expires, signature } = claims
      if (expires === undefined || signature === undefined || !EXPIRES.test(expires)) return { ok: false, reason: 'invalid' }
      const expected = Buffer.from(mac(claims, expires))
      const given = Buffer.from(signature)
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'invalid' }
      const expiresAt = new Date(Number(expires) * 1000)
      return expiresAt.getTime() > now.getTime() ? { ok: true, expiresAt } : { ok: false, reason: 'expired' }
    },
  }
}

export type MediaUrlSigner = ReturnType<typeof createMediaUrlSigner>

/** The URL with its signature blanked, for logs: a signed URL is a capability and is never logged whole. */
export const withoutSignature = (url: string) => url.replace(/([?&]signature=)[^&#]*/gi, '$1REDACTED')
