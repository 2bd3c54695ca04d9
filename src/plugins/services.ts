import fp from 'fastify-plugin'
import { createAnnotationService, type AnnotationService } from '../services/annotation-service.js'
import { createClientService, type ClientService } from '../services/client-service.js'
import { createHealthService, type HealthService } from '../services/health-service.js'
import { createRecordingService, type RecordingService } from '../services/recording-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    services: { recordings: RecordingService; annotations: AnnotationService; clients: ClientService; health: HealthService }
  }
}

/** Builds each service once, over the app's Prisma client. */
export default fp<{ migrations: string[] }>(
  async (app, { migrations }) => {
    app.decorate('services', {
      recordings: createRecordingService({ prisma: app.prisma }),
      annotations: createAnnotationService({ prisma: app.prisma }),
      clients: createClientService({ prisma: app.prisma }),
      health: createHealthService({ prisma: app.prisma, migrations }),
    })
  },
  { name: 'services', dependencies: ['prisma'] },
)
