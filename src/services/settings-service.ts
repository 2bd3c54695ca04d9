import type { PrismaClient, RecordingSettings as SettingsRow } from '../generated/prisma/client.js'
import type { Permission } from '../auth/permissions.js'
import { ForbiddenError, InvalidRequestError, NotFoundError } from '../errors.js'
import type { RecordingSettings } from '../schemas/settings.js'
import { PLAYBACK_URL_TTL_MINUTES } from './media-urls.js'

/** Lifetime of a batch download URL for an organization without settings (its `recordingBatchDownloadUrlTtl` default). */
export const BATCH_DOWNLOAD_URL_TTL_MINUTES = 60

/**
 * How long an instance reuses an organization's URL lifetimes (playback, batch download). A change made through another
 * instance reaches this one within that time; the instance that made it uses it at once.
 */
export const SETTINGS_CACHE_MS = 10_000

/** Which permission changes which member (Genesys). Members sent back unchanged need none: clients PUT what they read. */
const EDITED_WITH = {
  maxSimultaneousStreams: 'recording:settings:editScreenRecordings',
  maxConfigurableScreenRecordingStreams: 'recording:settings:editScreenRecordings',
  regionalRecordingStorageEnabled: 'recording:settings:editRegionalStorage',
  recordingPlaybackUrlTtl: 'recording:settings:editUrlExpiration',
  recordingBatchDownloadUrlTtl: 'recording:settings:editUrlExpiration',
  stopRecordingWhenOnlyExternalParticipants: 'recording:settings:editConferenceRecording',
} as const satisfies Partial<Record<keyof RecordingSettings, Permission>>
type Editable = keyof typeof EDITED_WITH
const EDITABLE = Object.keys(EDITED_WITH) as Editable[]

const toSettings = (row: SettingsRow): Required<RecordingSettings> => ({
  maxSimultaneousStreams: row.maxSimultaneousStreams,
  maxConfigurableScreenRecordingStreams: row.maxConfigurableScreenRecordingStreams,
  regionalRecordingStorageEnabled: row.regionalRecordingStorageEnabled,
  recordingPlaybackUrlTtl: row.recordingPlaybackUrlTtl,
  recordingBatchDownloadUrlTtl: row.recordingBatchDownloadUrlTtl,
  stopRecordingWhenOnlyExternalParticipants: row.stopRecordingWhenOnlyExternalParticipants,
  maxAllowedRestorationsForOrg: row.maxAllowedRestorationsForOrg,
  remainingRestorationsAllowedForOrg: row.remainingRestorationsAllowedForOrg,
})

const notStored = (organizationId: string) =>
  new NotFoundError('RecordingSettings', organizationId, ' (none are stored yet: PUT them, or GET with createDefault=true)')

/** The recording settings of each organization (GET/PUT /api/v2/recording/settings). */
export function createSettingsService({ prisma }: { prisma: PrismaClient }) {
  type UrlTtls = { playback: number; batchDownload: number; until: number }
  const urlTtls = new Map<string, UrlTtls>()
  const remember = (organizationId: string, row: Pick<SettingsRow, 'recordingPlaybackUrlTtl' | 'recordingBatchDownloadUrlTtl'> | null): UrlTtls => {
    // Organizations are few; the bound only keeps a flood of distinct ids from growing the map without end.
    if (urlTtls.size >= 10_000) urlTtls.clear()
    const ttls = {
      playback: row?.recordingPlaybackUrlTtl ?? PLAYBACK_URL_TTL_MINUTES,
      batchDownload: row?.recordingBatchDownloadUrlTtl ?? BATCH_DOWNLOAD_URL_TTL_MINUTES,
      until: Date.now() + SETTINGS_CACHE_MS,
    }
    urlTtls.set(organizationId, ttls)
    return ttls
  }
  const urlTtlsOf = async (organizationId: string): Promise<UrlTtls> => {
    const cached = urlTtls.get(organizationId)
    if (cached && cached.until > Date.now()) return cached
    const row = await prisma.recordingSettings.findUnique({
      where: { organizationId }, select: { recordingPlaybackUrlTtl: true, recordingBatchDownloadUrlTtl: true },
    })
    return remember(organizationId, row)
  }

  return {
    /** The stored settings; with `createDefault`, the defaults are stored first when there are none. */
    async get(organizationId: string, createDefault = false): Promise<RecordingSettings> {
      const row = createDefault
        ? await prisma.recordingSettings.upsert({ where: { organizationId }, create: { organizationId }, update: {} })
        : await prisma.recordingSettings.findUnique({ where: { organizationId } })
      if (!row) throw notStored(organizationId)
      return toSettings(row)
    },

    /**
     * Applies the members given (absent ones keep their value; the restoration limits are read-only). Each member that
     * changes needs its Genesys permission among `granted`.
     */
    async update(organizationId: string, input: RecordingSettings, granted: ReadonlySet<string>): Promise<RecordingSettings> {
      const saved = await prisma.$transaction(async (tx) => {
        // Locks the row (made with the defaults if missing), so concurrent changes of different members both survive.
        await tx.$executeRaw`INSERT INTO recording_settings (organization_id) VALUES (${organizationId}::uuid)
          ON CONFLICT (organization_id) DO UPDATE SET organization_id = EXCLUDED.organization_id`
        const current = toSettings(await tx.recordingSettings.findUniqueOrThrow({ where: { organizationId } }))
        const changed = EDITABLE.filter((member) => input[member] !== undefined && input[member] !== current[member])
        const missing = [...new Set(changed.map((member) => EDITED_WITH[member]))].filter((permission) => !granted.has(permission))
        if (missing.length > 0) {
          const members = changed.filter((member) => missing.includes(EDITED_WITH[member]))
          throw new ForbiddenError(`Missing permission: changing ${members.join(', ')} needs ${missing.join(' and ')}`)
        }
        const next: Required<RecordingSettings> = { ...current, ...Object.fromEntries(changed.map((member) => [member, input[member]])) }
        if (next.maxSimultaneousStreams > next.maxConfigurableScreenRecordingStreams) {
          throw new InvalidRequestError(
            `maxSimultaneousStreams (${next.maxSimultaneousStreams}) must not exceed maxConfigurableScreenRecordingStreams (${next.maxConfigurableScreenRecordingStreams})`,
            'maxSimultaneousStreams',
          )
        }
        const { maxAllowedRestorationsForOrg: _max, remainingRestorationsAllowedForOrg: _remaining, ...data } = next
        return tx.recordingSettings.update({ where: { organizationId }, data })
      })
      remember(organizationId, saved)
      return toSettings(saved)
    },

    /** Minutes the organization's playback URLs stay valid; read at most every SETTINGS_CACHE_MS per instance. */
    async playbackUrlTtlMinutes(organizationId: string): Promise<number> {
      return (await urlTtlsOf(organizationId)).playback
    },

    /** Minutes the organization's batch download URLs stay valid; cached as `playbackUrlTtlMinutes` is. */
    async batchDownloadUrlTtlMinutes(organizationId: string): Promise<number> {
      return (await urlTtlsOf(organizationId)).batchDownload
    },
  }
}

export type SettingsService = ReturnType<typeof createSettingsService>
