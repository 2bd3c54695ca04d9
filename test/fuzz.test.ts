import { randomUUID } from 'node:crypto'
import { connect } from 'node:net'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { audioRecording, chatRecording, emailRecording, messagingRecording } from './fixtures.js'
import { createOrganization, createTestContext, rowCounts, type TestContext } from './helpers.js'

/**
 * Hostile input to every route the app has: routes come from the router itself (printRoutes), so a new route is fuzzed
 * without touching this file; the OpenAPI document adds what each documented route takes (query names, body type and
 * example). Whatever arrives, the service must never answer 5xx, every non-2xx answer must carry the error body, a
 * refused write must leave the stored rows exactly as they were, and no API route may answer 2xx without a valid token.
 *
 * Seeded and bounded: the same requests every run. Violations are collected, not thrown at the first, so one run
 * reports every kind of failure with its first examples; the figures are printed at the end.
 */

// FUZZ_SEED explores other inputs; the default keeps every run, and CI, on the same ones.
const SEED = Number(process.env.FUZZ_SEED ?? 20261126)
const RUNS = { paths: 250, queries: 200, headers: 200, bodies: 450 }
const TIMEOUT = 60_000

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS'
const METHODS: Method[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']

type Parameter = { name: string; in: string; example?: unknown }
type Operation = { operationId?: string; parameters?: Parameter[]; requestBody?: { content: Record<string, { example?: unknown }> }; security?: unknown[] }

interface Route {
  method: Method
  /** Router pattern, e.g. `/api/v2/conversations/:conversationId/recordings`. */
  pattern: string
  operation?: Operation
}

/** Every route the router knows, read from its printed tree (`├── segment (GET, HEAD)`, nested by indentation). */
function routesOf(tree: string): { pattern: string; methods: Method[] }[] {
  const stack: string[] = []
  const routes: { pattern: string; methods: Method[] }[] = []
  for (const line of tree.split('\n')) {
    const match = /^(.*?)(?:└──|├──) (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!match) continue
    const depth = (match[1] ?? '').length / 4
    const segment = match[2] ?? ''
    stack.length = depth
    const parent = stack[depth - 1] ?? ''
    // The tree prints a wildcard child of `/docs` as `*`, where the route is `/docs/*`.
    const pattern = parent === '/' ? `/${segment}` : segment === '*' && !parent.endsWith('/') ? `${parent}/*` : parent + segment
    stack.push(pattern)
    if (match[3]) routes.push({ pattern, methods: match[3].split(', ') as Method[] })
  }
  return routes
}

// ---- hostile values -------------------------------------------------------------------------------------------

const EDGE_DATE_TIMES = [
  '2016-12-31T23:59:60Z', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59-23:59', '9999-12-31T23:59:59Z', '10000-01-01T00:00:00Z',
  '+275760-09-13T00:00:00Z', '-000001-01-01T00:00:00Z', '2024-02-30T00:00:00Z', '2024-13-01T00:00:00Z', '2024-05-01T24:00:00Z',
  '2024-05-01T00:00:00+24:00', '2024-05-01', '2024-05-01T00:00:00', '1970-01-01T00:00:00Z', '2099-01-01T00:00:00.123456789Z',
]

const HOSTILE_STRINGS = [
  '', ' ', '\u0000', 'a\u0000b', '%00', '\ud800', 'a\udc00b', '\ufeff', '\u202e', '💥', 'ü', '..', '../..', '%2e%2e', '%', '%zz',
  '-1', '0', '1e309', 'NaN', 'Infinity', 'true', 'null', 'undefined', '[]', '{}', '__proto__', 'constructor', '<script>', "'", '"',
  ',', 'WAV,,MP3', ',,,', ...EDGE_DATE_TIMES,
]

const hostileString = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 120_000 }).map((n) => 'a'.repeat(n)) },
)

/** Path segments: the hostile strings, raw and percent-encoded, plus URL-encoding garbage and valid-looking ids. */
function hostileSegment(ids: string[]) {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...ids) },
    { weight: 1, arbitrary: fc.uuid().map(String) },
    { weight: 3, arbitrary: fc.constantFrom('%00', 'a%00b', '%', '%zz', '%E0%A4%A', '%C0%AE', '%ED%A0%80', '%F0%9F%92%A5', '%2F', '..%2F..%2Fetc%2Fpasswd', '%u0041', '%2e%2e', '%20', ';', '*', '~', '') },
    { weight: 3, arbitrary: hostileString },
    { weight: 1, arbitrary: hostileString.map(safeEncode) },
  )
}

/** encodeURIComponent, or the text as it is where it cannot be encoded (a lone surrogate). */
function safeEncode(text: string): string {
  try {
    return encodeURIComponent(text)
  } catch {
    return text
  }
}

/**
 * Stands for JSON nested `n` deep, spliced into the body text after JSON.stringify (which would itself overflow the
 * stack building it): `[[[…]]]` for even n, `{"a":{"a":…}}` for odd.
 */
const DEEP = '@@deep@@'
const deepText = (n: number) => (n % 2 === 0 ? '['.repeat(n) + ']'.repeat(n) : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`)
const spliceDeep = (text: string) => text.replace(new RegExp(`"${DEEP}(\\d+)"`, 'g'), (_m, n: string) => deepText(Number(n)))

/** JSON values of the wrong type, size or shape for whatever field they land in. */
const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 2, arbitrary: fc.constantFrom(...EDGE_DATE_TIMES) },
  { weight: 2, arbitrary: fc.constantFrom(1e308, -1e308, -1, -0, 0.5, 2 ** 31, 2 ** 53, 2 ** 53 + 2, 2 ** 63, Number.MIN_VALUE, null, true, false) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 2_000 }).map((n) => Array.from({ length: n }, () => ({}))) },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 3_000 }).map((n) => nest(n)) },
  { weight: 1, arbitrary: fc.constantFrom(1_000, 10_001, 50_000, 90_001).map((n) => `${DEEP}${n}`) },
)

function nest(depth: number): unknown {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value }
  return value
}

/** Every property path of an example body, to aim a mutation at. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix]
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value)
  return [prefix, ...entries.flatMap(([key, child]) => pathsOf(child, [...prefix, key]))]
}

function withValueAt(value: unknown, path: (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<string | number, unknown>
  const [head, ...rest] = path as [string | number, ...(string | number)[]]
  // defineProperty: assigning `__proto__` would set the prototype instead of adding the key the body should carry.
  Object.defineProperty(copy, head, { value: withValueAt(copy[head], rest, replacement), enumerable: true, writable: true, configurable: true })
  return copy
}

/** A whole body as text: malformed, mis-encoded, poisoned, enormous or deep, or a documented example with one part made hostile. */
function hostileBody(example: unknown) {
  const paths = pathsOf(example ?? {})
  const mutated = fc
    .tuple(fc.nat({ max: paths.length - 1 }), hostileJson, fc.option(fc.constantFrom('__proto__', 'constructor', 'prototype', 'id', 'fileState', 'organizationId', 'conversationId', 'x'), { nil: undefined }))
    .map(([i, replacement, extraKey]) => {
      const path = paths[i] ?? []
      return spliceDeep(JSON.stringify(withValueAt(example ?? {}, extraKey ? [...path, extraKey] : path, replacement)))
    })
  const datesMutated = fc
    .tuple(fc.constantFrom('archiveDate', 'deleteDate', 'startTime', 'endTime'), fc.constantFrom(...EDGE_DATE_TIMES))
    .map(([field, date]) => JSON.stringify({ ...(typeof example === 'object' && example ? example : {}), [field]: date }))
  return fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(
      '', ' ', '{', '}', 'null', 'true', '0', '-0', '1e309', '"x"', '[]', '[[[[', '{"a":}', '{"a":1,"a":2}', '\u0000', '\ufeff{}',
      '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '{"name":"\\u0000"}', '{"name":"\\ud800"}',
      '{"name":"a\\udc00b"}', '{"\\u0000":1}', '{"\\ud800":1}', 'a=b&c=d', 'name=x&__proto__[polluted]=1', 'grant_type=client_credentials&client_id=%00',
      '123456789012345678901234567890', '{"archiveDate":1e400}', '{"location":9007199254740993}', '<xml/>',
    ) },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 90_000 }).map(deepText) },
    // Deep inside what is stored whole (messaging rich content), with an escape so the text checks walk it.
    { weight: 1, arbitrary: fc.constantFrom(1_000, 10_001, 50_000, 90_001).map((n) => `{"media":"messaging","messagingTranscript":[{"messageText":"caf\\u00e9","events":[${deepText(n)}]}]}`) },
    { weight: 5, arbitrary: mutated },
    { weight: 2, arbitrary: datesMutated },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  )
}

/** Valid bodies besides the documented example, so mutations reach the fields of every kind of recording. */
const MORE_EXAMPLES: Record<string, unknown[]> = {
  postConversationRecording: [chatRecording, emailRecording, messagingRecording],
  putConversationRecording: [{ ...audioRecording, id: randomUUID(), fileState: 'AVAILABLE', selfUri: '/x' }],
}

const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json; charset=utf-16', 'application/json; charset=latin1',
  'application/merge-patch+json', 'application/x-www-form-urlencoded', 'text/plain', 'text/html', 'multipart/form-data; boundary=x',
  'application/xml', 'application/octet-stream', '', ';;;', 'application/json;', 'application/json; charset="', '*/*', 'application/*',
]

// ---- the run --------------------------------------------------------------------------------------------------

interface Sent {
  route: Route
  method: Method
  url: string
  headers: Record<string, string>
  payload?: string
  /** What the Authorization header carries. */
  auth: 'valid' | 'limited' | 'other-organization' | 'none' | 'garbage'
}

let ctx: TestContext
let routes: Route[]
let tokens: Record<'valid' | 'limited' | 'other-organization', string>
const SEEDED = { conversationId: randomUUID(), recordingId: randomUUID(), chatRecordingId: randomUUID(), annotationId: randomUUID() }
const stats = { sent: 0, unsendable: 0, statuses: new Map<number, number>(), fiveHundreds: [] as string[] }
type Violations = Map<string, { count: number; examples: string[] }>
/** All of the run, for the closing figures; and those of the current test, which it asserts on. */
const violations: Violations = new Map()
let ofThisTest: Violations = new Map()

function violation(kind: string, sent: Sent, detail: string) {
  const body = sent.payload === undefined ? '' : ` body=${JSON.stringify(sent.payload.slice(0, 120))}${sent.payload.length > 120 ? `…(${sent.payload.length})` : ''}`
  const example = `${sent.method} ${sent.url.slice(0, 160)} [${sent.auth}] ct=${JSON.stringify(sent.headers['content-type'])}${body} → ${detail.slice(0, 300)}`
  for (const map of [violations, ofThisTest]) {
    const entry = map.get(kind) ?? { count: 0, examples: [] }
    entry.count++
    if (entry.examples.length < 4) entry.examples.push(example)
    map.set(kind, entry)
  }
}

/** Recordings, annotations and children of the seeded conversation, as one digest per table. */
async function storedDigest(): Promise<string> {
  const [counts, { rows }] = await Promise.all([rowCounts(ctx.sql), ctx.sql.query<{ d: string }>(
    `SELECT concat_ws('|',
       (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.id), '')) FROM recordings r WHERE r.conversation_id = $1),
       (SELECT md5(coalesce(string_agg(a::text, ',' ORDER BY a.id), '')) FROM annotations a JOIN recordings r ON r.id = a.recording_id WHERE r.conversation_id = $1),
       (SELECT md5(coalesce(string_agg(c::text, ',' ORDER BY c.recording_id, c.ordinal), '')) FROM chat_messages c JOIN recordings r ON r.id = c.recording_id WHERE r.conversation_id = $1),
       (SELECT md5(coalesce(string_agg(m::text, ',' ORDER BY m.recording_id, m.key), '')) FROM media_results m JOIN recordings r ON r.id = m.recording_id WHERE r.conversation_id = $1),
       (SELECT md5(coalesce(string_agg(u::text, ',' ORDER BY u.recording_id, u.ordinal), '')) FROM recording_users u JOIN recordings r ON r.id = u.recording_id WHERE r.conversation_id = $1)
     ) AS d`,
    [SEEDED.conversationId],
  )])
  return JSON.stringify({ counts, digest: rows[0]?.d })
}

/** The seeded recordings and annotation, with their fixed ids; made again after a fuzzed write that succeeded removed them. */
async function ensureSeeds() {
  const url = `/api/v2/conversations/${SEEDED.conversationId}/recordings`
  for (const [id, body] of [[SEEDED.recordingId, audioRecording], [SEEDED.chatRecordingId, chatRecording]] as const) {
    const { rowCount } = await ctx.sql.query('SELECT 1 FROM recordings WHERE id = $1', [id])
    if (rowCount) continue
    const res = await ctx.inject({ method: 'POST', url, payload: body })
    if (res.statusCode !== 201) throw new Error(`seeding failed: ${res.statusCode} ${res.body}`)
    await ctx.sql.query('UPDATE recordings SET id = $1 WHERE id = $2', [id, res.json<{ id: string }>().id])
  }
  const annotation = await ctx.sql.query('SELECT 1 FROM annotations WHERE id = $1', [SEEDED.annotationId])
  if (!annotation.rowCount) {
    const res = await ctx.inject({
      method: 'PUT',
      url: `${url}/${SEEDED.recordingId}/annotations/${SEEDED.annotationId}`,
      payload: { name: 'seed', type: 'bookmark', location: 1_000, durationMs: 0 },
    })
    if (res.statusCode !== 200) throw new Error(`seeding the annotation failed: ${res.statusCode} ${res.body}`)
  }
}

/** What is wrong with an error answer, if anything: the ErrorBody members (and the OAuth ones on /oauth/token). */
function errorBodyProblem(sent: Sent, res: LightMyRequestResponse): string | undefined {
  // Token requests answer RFC 6749 members too; a wrong method on that path is not a token request.
  const oauth = sent.route.pattern === '/oauth/token' && sent.method === 'POST'
  const type = String(res.headers['content-type'] ?? '')
  if (!(oauth ? /^application\/(problem\+)?json/ : /^application\/problem\+json/).test(type)) return `content-type ${type}: ${res.body.slice(0, 200)}`
  let body: Record<string, unknown>
  try {
    body = JSON.parse(res.body) as Record<string, unknown>
  } catch {
    return `not JSON: ${res.body.slice(0, 200)}`
  }
  const expected: [string, boolean][] = [
    ['message', typeof body.message === 'string'],
    ['code', typeof body.code === 'string' && /^[a-z]+(\.[a-z]+)*$/.test(body.code)],
    ['status', body.status === res.statusCode],
    ['contextId', typeof body.contextId === 'string' && body.contextId === res.headers['inin-correlation-id']],
    ['type', typeof body.type === 'string' && body.type.startsWith('urn:recording-store:problem:')],
    ['title', typeof body.title === 'string'],
    ['detail', body.detail === body.message],
    ['details', Array.isArray(body.details)],
    ['errors', Array.isArray(body.errors)],
    ...(oauth ? ([['error', typeof body.error === 'string'], ['error_description', typeof body.error_description === 'string']] as [string, boolean][]) : []),
  ]
  const missing = expected.filter(([, ok]) => !ok).map(([name]) => name)
  if (missing.length > 0) return `bad ${missing.join(', ')}: ${res.body.slice(0, 200)}`
  if (/\bat .+\.(js|ts):\d+|prisma|SELECT |INSERT /i.test(res.body)) return `leaks internals: ${res.body.slice(0, 200)}`
  return undefined
}

const WRITES = new Set<Method>(['POST', 'PUT', 'DELETE', 'PATCH'])

/** Whether a route with a documented body takes this content type (`+json` and parameters count as JSON). */
function takes(route: Route, contentType: string | undefined): boolean {
  const documented = Object.keys(route.operation?.requestBody?.content ?? {})
  if (documented.length === 0) return true
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  return documented.includes(type) || (documented.includes('application/json') && /^application\/[\w.-]+\+json$/.test(type))
}

async function send(sent: Sent): Promise<LightMyRequestResponse | undefined> {
  const write = WRITES.has(sent.method)
  const before = write ? await storedDigest() : undefined
  let res: LightMyRequestResponse
  try {
    res = await ctx.app.inject({ method: sent.method, url: sent.url, headers: sent.headers, ...(sent.payload !== undefined ? { payload: sent.payload } : {}) })
  } catch {
    // light-my-request refuses some inputs itself (header values Node would not send): nothing reached the app.
    stats.unsendable++
    return undefined
  }
  stats.sent++
  stats.statuses.set(res.statusCode, (stats.statuses.get(res.statusCode) ?? 0) + 1)
  const ok = res.statusCode >= 200 && res.statusCode < 300
  if (res.statusCode >= 500) {
    stats.fiveHundreds.push(`${res.statusCode} ${sent.method} ${sent.route.pattern}`)
    violation(`${res.statusCode} answer`, sent, res.body)
  }
  if (!ok && res.statusCode >= 400 && sent.method !== 'HEAD') {
    const problem = errorBodyProblem(sent, res)
    if (problem) violation(`${res.statusCode} without the error body`, sent, problem)
  }
  if (ok && sent.payload && !takes(sent.route, sent.headers['content-type'])) {
    violation('2xx for a body of a type the route does not take', sent, `${res.statusCode}`)
  }
  if (ok && sent.route.pattern.startsWith('/api/') && sent.auth !== 'valid' && sent.auth !== 'limited' && sent.auth !== 'other-organization') {
    violation('2xx without a valid token', sent, `${res.statusCode}`)
  }
  if (write) {
    if (!ok && (await storedDigest()) !== before) violation('refused write changed stored rows', sent, `${res.statusCode} ${res.body.slice(0, 200)}`)
    if (ok) await ensureSeeds()
  }
  return res
}

// ---- request generators ---------------------------------------------------------------------------------------

const routeArb = () => fc.constantFrom(...routes)
const ids = () => [SEEDED.conversationId, SEEDED.recordingId, SEEDED.chatRecordingId, SEEDED.annotationId]

/** The route's path with each parameter a seeded id or a hostile segment (valid ids only when `hostile` is false). */
function pathArb(route: Route, hostile: boolean): fc.Arbitrary<string> {
  const names = [...route.pattern.matchAll(/:(\w+)|\*/g)].map((m) => m[1] ?? '*')
  const valid = (name: string) => fc.constant(name === '*' ? 'index.html' : ({ conversationId: SEEDED.conversationId, recordingId: SEEDED.recordingId, annotationId: SEEDED.annotationId } as Record<string, string>)[name] ?? 'x')
  const values = names.map((name) => (hostile ? fc.oneof(valid(name), hostileSegment(ids())) : valid(name)))
  return fc.tuple(...values).map((segments) => {
    let i = 0
    return route.pattern.replace(/:(\w+)|\*/g, () => segments[i++] ?? '')
  })
}

const authArb = fc.constantFrom<Sent['auth']>('valid', 'valid', 'valid', 'limited', 'other-organization', 'none', 'garbage')

function authHeader(auth: Sent['auth'], variant: number): Record<string, string> {
  if (auth === 'none') return {}
  if (auth === 'garbage') {
    const token = tokens.valid
    const garbage = [`Bearer ${token}x`, 'Bearer', 'Bearer ', `bearer  ${token.slice(0, -2)}`, `Basic ${Buffer.from('a:b').toString('base64')}`, 'Bearer \u00ff', `Bearer ${'a'.repeat(10_000)}`, `Token ${token}`, 'Bearer a.b.c']
    return { authorization: garbage[variant % garbage.length] as string }
  }
  return { authorization: `Bearer ${tokens[auth]}` }
}

function exampleBody(route: Route): { contentType: string; example: unknown } {
  const [contentType, media] = Object.entries(route.operation?.requestBody?.content ?? {})[0] ?? ['application/json', {}]
  return { contentType, example: media.example }
}

function bodyText(contentType: string, example: unknown): string | undefined {
  if (example === undefined) return undefined
  return contentType === 'application/x-www-form-urlencoded' ? new URLSearchParams(example as Record<string, string>).toString() : JSON.stringify(example)
}

function hostileQuery(route: Route) {
  const known = (route.operation?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name)
  const key = fc.oneof(
    ...(known.length > 0 ? [{ weight: 4, arbitrary: fc.constantFrom(...known) }] : []),
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '', '\u0000', 'a[b]', 'a.b', '%00') },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  )
  return fc
    .array(fc.tuple(key, hostileString, fc.boolean()), { minLength: 1, maxLength: 6 })
    .map((pairs) => pairs.map(([k, v, encode]) => `${encode ? safeEncode(k) : k}=${encode ? safeEncode(v) : v}`).join('&'))
}

beforeAll(async () => {
  ctx = await createTestContext()
  await ensureSeeds()
  const otherOrganization = await createOrganization(ctx, `fuzz-other-${randomUUID()}`)
  tokens = {
    valid: await ctx.token(),
    limited: await ctx.token(['recording:recording:view']),
    'other-organization': await ctx.token(undefined, otherOrganization),
  }
  const document = (await ctx.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, Operation>> }>()
  routes = routesOf(ctx.app.printRoutes({ commonPrefix: false })).flatMap(({ pattern, methods }) =>
    methods.map((method) => ({ method, pattern, operation: document.paths[pattern.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()] })),
  )
}, 120_000)

afterAll(async () => {
  const histogram = Object.fromEntries([...stats.statuses].sort(([a], [b]) => a - b))
  const counted: Record<string, number> = {}
  for (const key of stats.fiveHundreds) counted[key] = (counted[key] ?? 0) + 1
  const fiveHundreds = Object.entries(counted)
  console.log(
    [
      `fuzz seed ${SEED}: ${stats.sent} requests sent over ${routes.length} routes (${stats.unsendable} refused by the inject client)`,
      `statuses: ${JSON.stringify(histogram)}`,
      `5xx seen: ${stats.fiveHundreds.length}${fiveHundreds.length ? ` (${fiveHundreds.map(([k, n]) => `${k} ×${n}`).join('; ')})` : ''}`,
      ...[...violations].map(([kind, { count, examples }]) => `violation "${kind}" ×${count}:\n    ${examples.join('\n    ')}`),
    ].join('\n'),
  )
  await ctx?.close()
})

beforeEach(() => {
  ofThisTest = new Map()
})

/** The violations of the current test, by kind with examples; empty when the service held. */
function report(): string[] {
  return [...ofThisTest].map(([kind, { count, examples }]) => `${kind} ×${count}: ${examples.join(' | ')}`)
}

// Properties record violations instead of throwing; what does throw (seeding failed) is not worth shrinking over a database.
const params = (numRuns: number) => ({ seed: SEED, numRuns, endOnFailure: true })

describe(`fuzzing every route (fast-check seed ${SEED})`, () => {
  it('covers every route the router has, documented ones with their OpenAPI operation', () => {
    const patterns = new Set(routes.map((r) => r.pattern))
    for (const known of ['/oauth/token', '/health/ready', '/api/v2/recordings', '/api/v2/conversations/:conversationId/recordings/:recordingId/annotations/:annotationId']) {
      expect(patterns).toContain(known)
    }
    expect(routes.filter((r) => r.operation).length).toBeGreaterThanOrEqual(16)
  })

  it('hostile path segments (NUL, %00, overlong, unicode, dot segments, bad percent-encoding), any method', async () => {
    await fc.assert(
      fc.asyncProperty(routeArb().chain((route) => fc.tuple(fc.constant(route), pathArb(route, true))), fc.nat({ max: 9 }), authArb, fc.nat(), async ([route, url], methodRoll, auth, variant) => {
        // Mostly the route's own method, so the request gets past routing to validation and the handler.
        const method = methodRoll < 7 ? route.method : (METHODS[methodRoll % METHODS.length] as Method)
        const { contentType, example } = exampleBody(route)
        const payload = WRITES.has(method) ? bodyText(contentType, example) : undefined
        await send({ route, method, url, auth, headers: { ...authHeader(auth, variant), ...(payload !== undefined ? { 'content-type': contentType } : {}) }, ...(payload !== undefined ? { payload } : {}) })
      }),
      params(RUNS.paths),
    )
    expect(report()).toEqual([])
  }, TIMEOUT)

  it('a method a path does not answer gets 405 with Allow, whatever the token', async () => {
    const byPattern = new Map<string, Route[]>()
    for (const route of routes) byPattern.set(route.pattern, [...(byPattern.get(route.pattern) ?? []), route])
    // A wildcard (the static files of /docs/*) stands for paths that mostly do not exist: 404 is as right there.
    for (const [pattern, answered] of [...byPattern].filter(([pattern]) => !pattern.includes('*'))) {
      const allowed = new Set(answered.map((r) => r.method))
      const url = fc.sample(pathArb(answered[0] as Route, false), { numRuns: 1, seed: SEED })[0] as string
      for (const method of METHODS.filter((m) => !allowed.has(m))) {
        for (const auth of ['valid', 'none'] as const) {
          const sent: Sent = { route: { method, pattern }, method, url, auth, headers: authHeader(auth, 0) }
          const res = await send(sent)
          if (res && res.statusCode !== 405) violation('wrong method not answered 405', sent, `${res.statusCode} ${res.body.slice(0, 150)}`)
          else if (res && String(res.headers.allow ?? '').split(/,\s*/).sort().join() !== [...allowed].sort().join()) violation('405 without the Allow of the path', sent, String(res.headers.allow))
        }
      }
    }
    expect(report()).toEqual([])
  }, TIMEOUT)

  it('hostile query strings (NUL, repeated keys, prototype keys, edge date-times, huge values)', async () => {
    await fc.assert(
      fc.asyncProperty(routeArb().chain((route) => fc.tuple(fc.constant(route), pathArb(route, false), hostileQuery(route))), authArb, fc.nat(), async ([route, path, query], auth, variant) => {
        const { contentType, example } = exampleBody(route)
        const payload = WRITES.has(route.method) ? bodyText(contentType, example) : undefined
        await send({ route, method: route.method, url: `${path}?${query}`, auth, headers: { ...authHeader(auth, variant), ...(payload !== undefined ? { 'content-type': contentType } : {}) }, ...(payload !== undefined ? { payload } : {}) })
      }),
      params(RUNS.queries),
    )
    expect(report()).toEqual([])
  }, TIMEOUT)

  it('hostile headers (content-type variants, tokens, correlation ids, accept)', async () => {
    const headerValue = fc.oneof(fc.constantFrom(...HOSTILE_STRINGS.filter((s) => s.length < 100)), fc.string({ unit: 'grapheme-ascii', maxLength: 80 }))
    await fc.assert(
      fc.asyncProperty(
        routeArb().chain((route) => fc.tuple(fc.constant(route), pathArb(route, false))),
        fc.constantFrom(...CONTENT_TYPES),
        authArb,
        fc.nat(),
        fc.record({ 'inin-correlation-id': headerValue, 'x-request-id': headerValue, accept: fc.constantFrom('*/*', 'application/xml', 'text/html', '', 'application/json;q=0'), 'accept-encoding': fc.constantFrom('gzip', 'br', 'identity;q=0', 'x') }, { requiredKeys: [] }),
        fc.boolean(),
        async ([route, url], contentType, auth, variant, extra, withBody) => {
          const { contentType: documented, example } = exampleBody(route)
          const payload = withBody ? bodyText(documented, example) ?? '{}' : undefined
          await send({ route, method: route.method, url, auth, headers: { ...extra, ...authHeader(auth, variant), 'content-type': contentType }, ...(payload !== undefined ? { payload } : {}) })
        },
      ),
      params(RUNS.headers),
    )
    expect(report()).toEqual([])
  }, TIMEOUT)

  it('hostile bodies (wrong types, deep nesting, huge numbers, edge date-times, NUL, lone surrogates, poisoned keys, forms, non-JSON)', async () => {
    const withBodies = () => {
      const writes = routes.filter((r) => WRITES.has(r.method))
      return fc.constantFrom(...writes)
    }
    await fc.assert(
      fc.asyncProperty(
        withBodies().chain((route) => {
          const examples = [exampleBody(route).example, ...(MORE_EXAMPLES[route.operation?.operationId ?? ''] ?? [])]
          return fc.tuple(fc.constant(route), pathArb(route, false), fc.constantFrom(...examples).chain(hostileBody))
        }),
        fc.constantFrom(...CONTENT_TYPES.slice(0, 8)),
        fc.nat({ max: 3 }),
        authArb,
        fc.nat(),
        async ([route, url, payload], otherType, typeRoll, auth, variant) => {
          // Mostly the documented type, so the body reaches the parser and the validator.
          const contentType = typeRoll === 0 ? otherType : exampleBody(route).contentType
          await send({ route, method: route.method, url, auth, headers: { ...authHeader(auth, variant), 'content-type': contentType }, payload })
        },
      ),
      params(RUNS.bodies),
    )
    expect(report()).toEqual([])
  }, TIMEOUT)

  it('raw URL bytes over a real socket (NUL, raw dot segments, bytes above 0x7f, overlong)', async () => {
    const address = await ctx.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = new URL(address)
    const rawPaths = [
      `/api/v2/conversations/a\u0000b/recordings`, `/api/v2/conversations/../../health/live`, `/api/v2/conversations/%2e%2e/recordings`,
      `/api/v2/conversations/\u00ff\u00fe/recordings`, `/api/v2/conversations/${'a'.repeat(20_000)}/recordings`, `/api/v2/conversations/%/recordings`,
      `/api/v2/conversations/${SEEDED.conversationId}/recordings/${SEEDED.recordingId}?formatId=%00`, '/oauth/token?\u0000', '//api//v2//recordings',
      '/api/v2/recordings?q=\u0000', '*', 'http://evil.example/api/v2/recordings', '/%ED%A0%80',
    ]
    for (const path of rawPaths) {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1')
        let data = ''
        socket.setEncoding('latin1')
        socket.on('data', (chunk: string) => (data += chunk))
        socket.on('end', () => resolve(data))
        socket.on('error', reject)
        socket.setTimeout(5_000, () => {
          socket.destroy()
          resolve(data)
        })
        // write, not end: Node's server drops a half-closed connection before a slower (database) answer is written.
        socket.write(Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${tokens.valid}\r\nConnection: close\r\n\r\n`, 'latin1'))
      })
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1])
      const [head = '', body = ''] = answer.split('\r\n\r\n')
      const sent: Sent = { route: { method: 'GET', pattern: '(raw socket)' }, method: 'GET', url: JSON.stringify(path.slice(0, 100)), headers: {}, auth: 'valid' }
      stats.sent++
      stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1)
      if (!(status < 500)) violation(`${status} answer over the socket`, sent, answer.slice(0, 200))
      if (status >= 400 && !/content-type: application\/problem\+json/i.test(head)) violation(`${status} over the socket without the error body`, sent, `${head.split('\r\n')[0]} ${body.slice(0, 150)}`)
    }
    expect(report()).toEqual([])
  }, TIMEOUT)
})
