import fp from 'fastify-plugin'
import { createAnnotationService, type AnnotationService } from '../services/annotation-service.js'
import { createHealthService, type HealthService } from '../services/health-service.js'
import { createRecordingService, type RecordingService } from '../services/recording-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    services: { recordings: RecordingService; annotations: AnnotationService; health: HealthService }
  }
}

/** Builds each service once, over the app's Prisma client. */
export default fp<{ migrations: string[] }>(
  async (app, { migrations }) => {
    app.decorate('services', {
      recordings: createRecordingService({ prisma: app.prisma }),
      annotations: createAnnotationService({ prisma: app.prisma }),
      health: createHealthService({ prisma: app.prisma, migrations }),
    })
  },
  { name: 'services', dependencies: ['prisma'] },
)
