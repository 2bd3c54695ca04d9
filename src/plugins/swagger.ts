import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { readFileSync } from 'node:fs'
import { PERMISSIONS, SECURITY_SCHEME } from '../auth/permissions.js'

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

type OpenApiResponses = Record<string, { content?: Record<string, unknown> }>
type OpenApiDocument = { paths?: Record<string, Record<string, { responses?: OpenApiResponses }>> }

/** Error answers are sent as `application/problem+json`; say so in the document. */
function relabelErrorContent(document: OpenApiDocument) {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const json = response.content?.['application/json']
        if (Number(status) >= 400 && json && response.content) {
          response.content = { 'application/problem+json': json }
        }
      }
    }
  }
  return document
}

/**
 * OpenAPI 3 document built from the route schemas, served at `/openapi.json`, and Swagger UI at `/docs`.
 * Registered before any route so that every route is documented.
 */
export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'recording-store',
          version,
          description:
            'Stores contact-center recordings with their transcripts and annotations. Paths, JSON and listings follow ' +
            'the Genesys Cloud Recording API, so the Genesys SDKs work against it unchanged.',
        },
        tags: [
          { name: 'Recording', description: 'Recordings of a conversation (Genesys RecordingApi).' },
          { name: 'Annotation', description: 'Timeline annotations of a recording (Genesys RecordingApi).' },
          { name: 'OAuth', description: 'Access tokens (client-credentials grant).' },
          { name: 'Health', description: 'Liveness and readiness probes.' },
        ],
        components: {
          securitySchemes: {
            // "Authorize" in Swagger UI gets a token from /oauth/token with a client id and secret.
            [SECURITY_SCHEME]: {
              type: 'oauth2',
              description:
                'Client credentials: POST /oauth/token with HTTP Basic client authentication and ' +
                'grant_type=client_credentials. Each operation lists the permissions (scopes) of which any one suffices.',
              flows: { clientCredentials: { tokenUrl: '/oauth/token', scopes: { ...PERMISSIONS } } },
            },
          },
        },
      },
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
      transformObject: (documentObject) =>
        relabelErrorContent(('openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject) as OpenApiDocument) as never,
    })
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      // The UI's own Content-Security-Policy (script and style hashes) replaces the API's strict one on /docs,
      // minus the upgrade to https (it would break the UI on a plain-http internal host) and the external validator,
      // and with inline styles, which the UI sets.
      staticCSP: true,
      transformStaticCSP: (header) =>
        header.replace(/\s*upgrade-insecure-requests;?/, '').replace(' validator.swagger.io', '').replace("style-src 'self' https:", "style-src 'self' 'unsafe-inline'"),
      uiConfig: { persistAuthorization: true, tryItOutEnabled: true, validatorUrl: null },
    })
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
    // Whoever opens the bare host in a browser lands on the documentation.
    app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/docs', 302))
  },
  { name: 'swagger', dependencies: ['error-handler'] },
)
