import { Type, type Static } from '@sinclair/typebox'
import { Int32 } from './common.js'

const Opt = Type.Optional

const urlTtl = (what: string) =>
  Type.Integer({ minimum: 2, maximum: 60, description: `Minutes a generated ${what} stays valid, 2 to 60 (default 60).` })

/**
 * Genesys `RecordingSettings`, plus the restoration limits (read-only here) that recordings carry. Open: clients PUT
 * back what they read; unknown members are ignored.
 */
export const RecordingSettingsSchema = Type.Object(
  {
    maxSimultaneousStreams: Opt(Int32('Maximum concurrent screen recording streams; at most maxConfigurableScreenRecordingStreams.')),
    maxConfigurableScreenRecordingStreams: Opt(Int32('Upper bound allowed for maxSimultaneousStreams.')),
    regionalRecordingStorageEnabled: Opt(Type.Boolean({ description: 'Keep call media in the region it was captured in.' })),
    recordingPlaybackUrlTtl: Opt(urlTtl('playback URL (a mediaUri)')),
    recordingBatchDownloadUrlTtl: Opt(urlTtl('batch download URL')),
    stopRecordingWhenOnlyExternalParticipants: Opt(Type.Boolean({ description: 'Stop conference recording once only external parties remain.' })),
    maxAllowedRestorationsForOrg: Opt(Int32('Extension, read-only: restorations allowed to the organization (Genesys: deprecated, always 10000).')),
    remainingRestorationsAllowedForOrg: Opt(Int32('Extension, read-only: restorations the organization has left (Genesys: deprecated, always 10000).')),
  },
  {
    title: 'RecordingSettings',
    additionalProperties: true,
    examples: [{ maxSimultaneousStreams: 1, maxConfigurableScreenRecordingStreams: 5, regionalRecordingStorageEnabled: false, recordingPlaybackUrlTtl: 30, recordingBatchDownloadUrlTtl: 60, stopRecordingWhenOnlyExternalParticipants: false }],
  },
)
export type RecordingSettings = Static<typeof RecordingSettingsSchema>

export const GetSettingsQuery = Type.Object({
  createDefault: Opt(Type.Boolean({ default: false, description: 'Create and answer the default settings when the organization has none yet (otherwise 404).' })),
})
