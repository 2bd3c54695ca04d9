import fp from 'fastify-plugin'
import path from 'node:path'
import { createAnnotationService, type AnnotationService } from '../services/annotation-service.js'
import { createClientService, type ClientService } from '../services/client-service.js'
import { createMediaService, type MediaService } from '../services/media-service.js'
import type { MediaStorage } from '../storage/media-storage.js'
import { createMediaUrlSigner, createPlaybackUrls, type MediaUrlSigner, type PlaybackUrls } from '../services/media-urls.js'
import { createHealthService, type HealthService } from '../services/health-service.js'
import { createCursorCodec } from '../services/cursor.js'
import { createRecordingService, type RecordingService } from '../services/recording-service.js'
import { createSearchService, type SearchService } from '../services/search-service.js'
import { createUploadService, type UploadService } from '../services/upload-service.js'
import { createRenditionService, type RenditionService } from '../services/rendition-service.js'
import { createSettingsService, type SettingsService } from '../services/settings-service.js'
import { createDeletionProtectionService, type DeletionProtectionService } from '../services/deletion-protection-service.js'
import { createRetentionService, type RetentionService } from '../services/retention-service.js'
import { createBatchDownloadService, type BatchDownloadService } from '../services/batch-download-service.js'
import { createWebhookService, type WebhookService } from '../services/webhook-service.js'
import { createRecordingJobService, type RecordingJobService } from '../services/recording-job-service.js'
import type { ExportTargets, S3ClientSettings } from '../services/export-targets.js'
import { createRetentionPolicyService, type RetentionPolicyService } from '../services/retention-policy-service.js'

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
      /** Playback URLs of stored media in answers (signed, or presigned by S3), for an organization's URL lifetime. */
      playback: PlaybackUrls
      /** Resumable (tus) uploads of media, kept under DATA_DIR/uploads until complete. */
      uploads: UploadService
      /** Renditions of stored media in other formats, and waveforms, made by ffmpeg in jobs. */
      renditions: RenditionService
      /** Recording settings per organization; the URL lifetimes are cached for SETTINGS_CACHE_MS. */
      settings: SettingsService
      /** Deletion protection (legal hold) of conversations. */
      deletionProtection: DeletionProtectionService
      retention: RetentionService
      /** Batch download requests, resolved by a background job; their URLs are signed when read. */
      batchDownloads: BatchDownloadService
      /** Webhook subscriptions and their deliveries (the events are written by triggers, sent by a job). */
      webhooks: WebhookService
      /** Recording bulk jobs (archive, delete, export), collected and executed by background jobs; the export job. */
      recordingJobs: RecordingJobService
      /** Media retention policies (both families); their dates are given to recordings at ingest. */
      retentionPolicies: RetentionPolicyService
    }
  }
}

/** Builds each service once, over the app's Prisma client. */
export default fp<{ migrations: string[]; cursorKey: Uint8Array; mediaUrlKey: Uint8Array; publicBaseUrl: string | (() => string); storage: MediaStorage; mediaMaxBytes: number; dataDir: string; uploadExpiryHours: number; transcode: { ffmpeg: string; timeoutMs: number; concurrency: number }; webhookAllowPrivateTargets: boolean; recordingJobs: { batchSize: number; exportTargets: ExportTargets; s3: S3ClientSettings } }>(
  async (app, { migrations, cursorKey, mediaUrlKey, publicBaseUrl, storage, mediaMaxBytes, dataDir, uploadExpiryHours, transcode, webhookAllowPrivateTargets, recordingJobs }) => {
    const mediaUrls = createMediaUrlSigner({ key: mediaUrlKey, baseUrl: publicBaseUrl })
    const settings = createSettingsService({ prisma: app.prisma })
    const playback = createPlaybackUrls({ signer: mediaUrls, storage, ttlMinutes: settings.playbackUrlTtlMinutes })
    const media = createMediaService({ prisma: app.prisma, storage, playback, maxBytes: mediaMaxBytes })
    const retentionPolicies = createRetentionPolicyService({ prisma: app.prisma })
    const renditions = createRenditionService({ prisma: app.prisma, storage, ...transcode, scratch: path.join(dataDir, 'transcode') })
    app.decorate('services', {
      recordings: createRecordingService({ prisma: app.prisma, reader: app.sqlReader, playback, renditions, retentionPolicies }),
      retentionPolicies,
      renditions,
      annotations: createAnnotationService({ prisma: app.prisma }),
      search: createSearchService({ prisma: app.prisma, cursors: createCursorCodec(cursorKey) }),
      settings,
      deletionProtection: createDeletionProtectionService({ prisma: app.prisma }),
      retention: createRetentionService({ prisma: app.prisma, cursors: createCursorCodec(cursorKey) }),
      batchDownloads: createBatchDownloadService({ prisma: app.prisma, playback, urlTtlMinutes: settings.batchDownloadUrlTtlMinutes }),
      webhooks: createWebhookService({ prisma: app.prisma, allowPrivateTargets: webhookAllowPrivateTargets }),
      recordingJobs: createRecordingJobService({ prisma: app.prisma, cursors: createCursorCodec(cursorKey), storage, ...recordingJobs }),
      clients: createClientService({ prisma: app.prisma }),
      health: createHealthService({ prisma: app.prisma, migrations }),
      media,
      mediaUrls,
      playback,
      // A completed upload is stored as the one-request upload stores it.
      uploads: createUploadService({
        prisma: app.prisma, media, directory: path.join(dataDir, 'uploads'), expiryHours: uploadExpiryHours, maxBytes: mediaMaxBytes,
        baseUrl: () => (typeof publicBaseUrl === 'string' ? publicBaseUrl : publicBaseUrl()).replace(/\/+$/, ''),
      }),
    })
  },
  { name: 'services', dependencies: ['prisma'] },
)
