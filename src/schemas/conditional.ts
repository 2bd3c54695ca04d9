import { Type, type TSchema } from '@sinclair/typebox'
import { errorResponses } from './error-body.js'

// Request and response headers of conditional requests (RFC 9110 section 13), for validation and the OpenAPI document.

const ETAG_DESCRIPTION =
  'Strong entity-tag of this state of the resource; it changes with every change (for a recording also with every ' +
  'change of its annotations). Query options that narrow a recording give that variant its own ETag.'

export const IfNoneMatchHeaders = Type.Object({
  'If-None-Match': Type.Optional(Type.String({ description: 'An ETag read earlier (or a list, or *): 304 without a body while it is still current.' })),
})

export const IfMatchHeaders = Type.Object({
  'If-Match': Type.Optional(
    Type.String({
      description:
        'Change only if the resource is still at this ETag (or a list of them; * for any existing state); otherwise 412 and nothing changes.',
    }),
  ),
})

/** A 2xx response schema that also documents the ETag header it carries. */
export const withETag = <T extends TSchema>(schema: T): T => ({ ...schema, headers: { ETag: { type: 'string', description: ETAG_DESCRIPTION } } })

export const NotModified = { type: 'null', description: 'Not modified: the If-None-Match ETag is current. No body.' } as const

export const PRECONDITION_ERRORS = errorResponses(412)
