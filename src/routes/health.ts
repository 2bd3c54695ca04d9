import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { errorBody, sendError } from '../plugins/error-handler.js'
import { errorResponses } from '../schemas/error-body.js'

const Liveness = Type.Object({ status: Type.Literal('ok') }, { title: 'Liveness' })
const Readiness = Type.Object(
  { status: Type.Literal('ok'), database: Type.Literal('up'), pendingMigrations: Type.Array(Type.String()) },
  { title: 'Readiness' },
)

/** Probes for orchestrators: live = the process answers; ready = the database answers and is migrated. */
export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const tags = ['Health']
  app.get('/health/live', {
    schema: { operationId: 'getHealthLive', summary: 'Liveness probe', tags, response: { 200: Liveness } },
  }, async () => ({ status: 'ok' as const }))

  app.get('/health/ready', {
    schema: {
      operationId: 'getHealthReady',
      summary: 'Readiness probe',
      description: '200 when the database is reachable and every migration is applied, else 503.',
      tags,
      response: { 200: Readiness, ...errorResponses(503) },
    },
  }, async (request, reply) => {
    const { ready, database, pendingMigrations } = await app.services.health.readiness()
    if (ready) return { status: 'ok' as const, database: 'up' as const, pendingMigrations }
    const message = database === 'down' ? 'The database is not reachable' : `Migrations not applied: ${pendingMigrations.join(', ')}`
    return sendError(reply.header('retry-after', '5'), errorBody(request, 503, message))
  })
}
