import { Type, type Static } from '@sinclair/typebox'

const Opt = Type.Optional

export const ErrorDetailSchema = Type.Object(
  {
    errorCode: Opt(Type.String()),
    fieldName: Opt(Type.String({ description: 'Offending field, e.g. `mediaSubtype` or `transcript[0].bodyType`.' })),
    entityId: Opt(Type.String()),
    entityName: Opt(Type.String()),
    in: Opt(Type.String({ description: 'Part of the request: body, querystring, params or headers.' })),
    pointer: Opt(Type.String({ description: 'JSON pointer (RFC 6901) into that part, e.g. `#/transcript/0/bodyType`.' })),
    detail: Opt(Type.String({ description: 'What is wrong with it.' })),
  },
  { title: 'Detail' },
)

/**
 * One error body for every non-2xx answer: the Genesys `ErrorBody` members (which the SDK hands to the caller's
 * `catch`) together with the RFC 9457 problem-details members (`type`, `title`, `status`, `detail`, `instance`).
 */
export const ErrorBodySchema = Type.Object(
  {
    message: Type.String(),
    code: Type.String(),
    status: Type.Integer(),
    contextId: Type.String({ description: 'Request id; it appears on every log line of the request.' }),
    entityId: Opt(Type.String()),
    entityName: Opt(Type.String()),
    details: Type.Array(ErrorDetailSchema),
    errors: Type.Array(Type.Object({}, { additionalProperties: true })),
    type: Type.String({ description: 'URI identifying the kind of problem.' }),
    title: Type.String(),
    detail: Type.String(),
    instance: Opt(Type.String()),
  },
  { $id: 'ErrorBody', title: 'ErrorBody' },
)
export type ErrorBody = Static<typeof ErrorBodySchema>
export type ErrorDetail = Static<typeof ErrorDetailSchema>

/** Reference to the shared schema: typed for handlers, one component in the OpenAPI document. */
export const ErrorRef = Type.Unsafe<ErrorBody>(Type.Ref('ErrorBody'))

/** Response entries for the error statuses a route can answer. */
export const errorResponses = <const S extends readonly number[]>(...statuses: S) =>
  Object.fromEntries(statuses.map((status) => [status, ErrorRef])) as { [K in S[number]]: typeof ErrorRef }

/** The error answers of API routes: reads (and deletes), and writes with a body. */
export const READ_ERRORS = errorResponses(400, 401, 403, 404, 429, 500, 503)
export const WRITE_ERRORS = errorResponses(400, 401, 403, 404, 413, 415, 429, 500, 503)
export const CREATE_ERRORS = errorResponses(400, 401, 403, 413, 415, 429, 500, 503)

/** A 204 answer: no body. */
export const NoContent = { type: 'null', description: 'Done; no body.' } as const
