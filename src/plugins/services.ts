import fp from 'fastify-plugin'
import { createAnnotationService, type AnnotationService } from '../services/annotation-service.js'
import { createClientService, type ClientService } from '../services/client-service.js'
import { createMediaService, type MediaService } from '../services/media-service.js'
import type { MediaStorage } from '../storage/media-storage.js'
import { createMediaUrlSigner, createPlaybackUrls, type MediaUrlSigner } from '../services/media-urls.js'
import { createHealthService, type HealthService } from '../services/health-service.js'
import { createCursorCodec } from '../services/cursor.js'
import { createRecordingService, type RecordingService } from '../services/recording-service.js'
import { createSearchService, type SearchService } from '../services/search-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    services: {
      recordings: RecordingService
      annotations: AnnotationService
      search: SearchService
      clients: ClientService
      health: HealthService
      media: MediaService
      /** Signs and checks playback URLs of stored media. */
      mediaUrls: MediaUrlSigner
    }
  }
}

/** Builds each service once, over the app's Prisma client. */
export default fp<{ migrations: string[]; cursorKey: Uint8Array; mediaUrlKey: Uint8Array; publicBaseUrl: string; storage: MediaStorage; mediaMaxBytes: number }>(
  async (app, { migrations, cursorKey, mediaUrlKey, publicBaseUrl, storage, mediaMaxBytes }) => {
    const mediaUrls = createMediaUrlSigner({ key: mediaUrlKey, baseUrl: publicBaseUrl })
    const playback = createPlaybackUrls({ signer: mediaUrls, storage })
    app.decorate('services', {
      recordings: createRecordingService({ prisma: app.prisma, playback }),
      annotations: createAnnotationService({ prisma: app.prisma }),
      search: createSearchService({ prisma: app.prisma, cursors: createCursorCodec(cursorKey) }),
      clients: createClientService({ prisma: app.prisma }),
      health: createHealthService({ prisma: app.prisma, migrations }),
      media: createMediaService({ prisma: app.prisma, storage, playback, maxBytes: mediaMaxBytes }),
      mediaUrls,
    })
  },
  { name: 'services', dependencies: ['prisma'] },
)
