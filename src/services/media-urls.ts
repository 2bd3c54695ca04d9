import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { MediaStorage } from '../storage/media-storage.js'

/** Lifetime of a signed playback URL for an organization without settings (its `recordingPlaybackUrlTtl` default). */
export const PLAYBACK_URL_TTL_MINUTES = 60

/** The rendition name of a recording's stored media (one file per recording), as in Genesys' audio `mediaUris`. */
export const STORED_RENDITION = 'S'

/**
 * The rendition of a URL path segment: `S` (the stored original) or a format made from it (`MP3`, `OGG_OPUS`, ...),
 * optionally with `.<extension>` as issued (the extension names the format for players).
 */
export const renditionOfSegment = (segment: string) => /^([A-Za-z0-9_]+)(?:\.[a-z0-9]{1,8})?$/.exec(segment)?.[1]

/** A file extension for a media type, as players and the `mediaFormats` filter read it from a URL path. */
export function extensionOf(contentType: string): string {
  const [top = '', sub = ''] = contentType.split('/')
  const bare = sub.replace(/^x-/, '')
  const known: Record<string, string> = { wav: 'wav', wave: 'wav', 'vnd.wave': 'wav', mpeg: 'mp3', mp3: 'mp3', ogg: 'ogg', opus: 'opus', webm: 'webm', jpeg: 'jpg', zip: 'zip' }
  if (bare === 'mp4' || bare === 'm4a') return top === 'audio' ? 'm4a' : 'mp4'
  return known[bare] ?? (bare.replace(/[^a-z0-9]/g, '').slice(0, 8) || 'bin')
}

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
export function createMediaUrlSigner({ key, baseUrl }: { key: Uint8Array; baseUrl: string | (() => string) }) {
  // A function when the origin is known only once the server listens (PORT=0 takes any free port).
  const originOf = () => (typeof baseUrl === 'string' ? baseUrl : baseUrl()).replace(/\/+$/, '')
  const mac = ({ organizationId, recordingId, rendition }: MediaUrlClaims, expires: string) =>
    createHmac('sha256', key).update(`media\n${organizationId}\n${recordingId}\n${rendition}\n${expires}`).digest('base64url')

  return {
    sign(claims: MediaUrlClaims & { expiresAt: Date }): string {
      const expires = String(Math.floor(claims.expiresAt.getTime() / 1000))
      const path = [claims.organizationId, claims.recordingId, claims.rendition].map(encodeURIComponent).join('/')
      return `${originOf()}/media/${path}?expires=${expires}&signature=${mac(claims, expires)}`
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

/**
 * Where stored media goes in the recording JSON that PostgreSQL builds: a `mediaUri` holding this mark, the rendition
 * (`S`, or the format it was made in), the storage key and the media type, which `createPlaybackUrls` replaces with a URL. The mark is random per process, so no value a
 * client stored (a linked mediaUri) can pass for one.
 */
export const STORED_MEDIA_MARK = `stored-media:${randomBytes(12).toString('hex')}:`
const MARKED = new RegExp(`"${STORED_MEDIA_MARK}([A-Za-z0-9_]+) ([A-Za-z0-9._/-]+) ([a-z0-9.+/-]+)"`, 'g')

/**
 * Playback URLs of stored media. Expiry is rounded down to the minute, so every read within one minute hands out the
 * same URLs: the answers are the same bytes, and an ETag that names that minute stays strong. A URL so lives between
 * `ttlMinutes - 1` and `ttlMinutes` minutes.
 */
export function createPlaybackUrls({ signer, storage, ttlMinutes }: {
  signer: MediaUrlSigner
  storage: MediaStorage
  /** An organization's URL lifetime (its `recordingPlaybackUrlTtl`), which callers pass to `resolve`. */
  ttlMinutes: (organizationId: string) => Promise<number>
}) {
  const expiryAt = (now: number, minutes: number) => new Date(Math.floor(now / 60_000) * 60_000 + minutes * 60_000)

  async function urlOf(rendition: string, storageKey: string, contentType: string, expiresAt: Date): Promise<string> {
    if (storage.presign) return storage.presign(storageKey, { expiresAt, contentType })
    const [organizationId = '', recordingId = ''] = storageKey.split('/')
    return signer.sign({ organizationId, recordingId, rendition: `${rendition}.${extensionOf(contentType)}`, expiresAt })
  }

  return {
    ttlMinutes,

    /**
     * A URL that reads stored bytes for `ttlMinutes` (expiry rounded down to the minute, as in `resolve`): `rendition`
     * names them on the media route (`S` for the stored original of the recording the key belongs to).
     */
    async urlFor(stored: { rendition: string; storageKey: string; contentType: string }, ttlMinutes: number, now = Date.now()): Promise<{ url: string; expiresAt: Date }> {
      const expiresAt = expiryAt(now, ttlMinutes)
      return { url: await urlOf(stored.rendition, stored.storageKey, stored.contentType, expiresAt), expiresAt }
    },

    /**
     * The recording JSON with the marks of stored media replaced by playback URLs valid for `ttlMinutes`, and the expiry
     * they share (unix seconds), which belongs in the ETag; none when the JSON names no stored media.
     */
    async resolve(json: string, ttlMinutes: number, now = Date.now()): Promise<{ json: string; expires?: number }> {
      if (!json.includes(STORED_MEDIA_MARK)) return { json }
      const expiresAt = expiryAt(now, ttlMinutes)
      const marks = [...json.matchAll(MARKED)]
      const urls = await Promise.all(marks.map(([, rendition = '', key = '', type = '']) => urlOf(rendition, key, type, expiresAt)))
      let index = 0
      return { json: json.replace(MARKED, () => JSON.stringify(urls[index++])), expires: expiresAt.getTime() / 1000 }
    },
  }
}

export type PlaybackUrls = ReturnType<typeof createPlaybackUrls>
