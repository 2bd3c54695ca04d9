import { PreconditionFailedError } from '../errors.js'

// ETags are row versions (see the conditional_requests migration): `"<version>"`, or `"<version>.<variant>"` for a
// representation that query options narrowed. Strong: two answers with one ETag are the same bytes.

/** What an If-Match asks for: any current representation (`*`), or one of these versions. */
export type IfMatch = '*' | string[]

export const etagOf = (version: string, variant?: string) => `"${variant ? `${version}.${variant}` : version}"`

/**
 * The ETag of a recording answer: its row version, narrowed by what else the bytes depend on: the query options that
 * changed the content, the expiry of the playback URLs in it, and the organization's restoration counter it shows.
 */
export const recordingETag = (version: string, parts: {
  variant?: string | undefined
  expires?: number | undefined
  restorations?: string | null | undefined
  /** Its media is still being made in the wanted format, or could not be (what else the answer depends on). */
  media?: 'pending' | 'failed' | undefined
}) =>
  etagOf(version, [parts.variant, parts.expires && `e${parts.expires}`, parts.restorations && `r${parts.restorations}`, parts.media?.[0]]
    .filter(Boolean).join('-') || undefined)

const ENTITY_TAG = /\s*(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)/y

/** The entity-tags of an If-Match or If-None-Match value (`*`, or a list); the list ends at a malformed member. */
export function parseETags(field: string): '*' | { weak: boolean; opaque: string }[] {
  if (field.trim() === '*') return '*'
  const tags: { weak: boolean; opaque: string }[] = []
  ENTITY_TAG.lastIndex = 0
  for (let match = ENTITY_TAG.exec(field); match; match = ENTITY_TAG.exec(field)) {
    tags.push({ weak: match[1] !== undefined, opaque: match[2] ?? '' })
    if (ENTITY_TAG.lastIndex >= field.length) break
  }
  return tags
}

/**
 * If-Match as versions. Comparison is strong (weak tags never match). Any variant of a version matches it: every
 * representation of one version shows the same state, which is all a lost-update check needs to know.
 */
export function parseIfMatch(field: string | undefined): IfMatch | undefined {
  if (field === undefined) return undefined
  const tags = parseETags(field)
  if (tags === '*') return '*'
  return tags.filter((tag) => !tag.weak).map((tag) => tag.opaque.split('.')[0] ?? '')
}

/** If-None-Match against the ETag of the answer: weak comparison (RFC 9110 13.1.2). */
export function noneMatchFails(field: string, etag: string): boolean {
  const tags = parseETags(field)
  if (tags === '*') return true
  const current = etag.replace(/^W\//, '')
  return tags.some((tag) => `"${tag.opaque}"` === current)
}

/**
 * Throws 412 unless `ifMatch` holds for the current version (undefined: the resource does not exist). No If-Match
 * always holds.
 */
export function assertIfMatch(ifMatch: IfMatch | undefined, current: string | undefined, what: string): void {
  if (ifMatch === undefined) return
  if (current === undefined) throw new PreconditionFailedError(`If-Match: ${what} does not exist`)
  if (ifMatch !== '*' && !ifMatch.includes(current)) {
    throw new PreconditionFailedError(`If-Match: ${what} has changed; its current ETag is ${etagOf(current)}`)
  }
}
