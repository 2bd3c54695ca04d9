import { AUDIO_FORMATS, type GetRecordingQuery, type MediaFormat, type Recording } from '../schemas/recording.js'
import { STORED_MEDIA_MARK } from './media-urls.js'

const BY_EXTENSION: Record<string, MediaFormat> = { wav: 'WAV', webm: 'WEBM', mp3: 'MP3', ogg: 'OGG_VORBIS', opus: 'OGG_OPUS' }

/** A rendition's format: its key when the key names a format, else the extension of its URI's path. */
export function renditionFormat(key: string, mediaUri: string | undefined): MediaFormat | undefined {
  const named = AUDIO_FORMATS.find((format) => format === key.toUpperCase())
  if (named) return named
  const extension = /\.([a-z0-9]+)$/i.exec(mediaUri?.split(/[?#]/)[0] ?? '')?.[1]?.toLowerCase()
  return extension ? BY_EXTENSION[extension] : undefined
}

/** File states whose media cannot be played: uploading, or in the archive tier (archived, or on its way back). */
const UNPLAYABLE = new Set(['UPLOADING', 'ARCHIVED', 'RESTORING'])

/**
 * What the Genesys query options mean beyond the SQL, which already chose stored media in the wanted format: NONE
 * formats leave the matching content out, `mediaFormats` narrows linked media (mediaUris given at ingest) to those
 * formats, and nothing is playable while media is uploading, archived or being restored.
 */
export function applyView(recording: Recording, options: Partial<Pick<GetRecordingQuery, 'formatId' | 'mediaFormats' | 'emailFormatId' | 'chatFormatId' | 'messageFormatId'>>): Recording {
  const { mediaUris, transcript, emailTranscript, messagingTranscript, ...rest } = recording
  let renditions = mediaUris
  if (renditions && options.mediaFormats?.length) {
    const wanted = new Set(options.mediaFormats)
    // Stored media (still marked, before its URL is made) is already in a wanted format: the SQL chose it so.
    const kept = Object.entries(renditions).filter(([key, media]) =>
      media.mediaUri?.startsWith(STORED_MEDIA_MARK) || wanted.has(renditionFormat(key, media.mediaUri) as MediaFormat))
    renditions = kept.length > 0 ? Object.fromEntries(kept) : undefined
  }
  // Genesys: mediaFormats, when given, takes precedence over formatId.
  const wantsMedia = options.mediaFormats?.length ? true : options.formatId !== 'NONE'
  const playable = wantsMedia && !UNPLAYABLE.has(recording.fileState ?? '')
  return {
    ...rest,
    ...(playable && renditions ? { mediaUris: renditions } : {}),
    ...(transcript && options.chatFormatId !== 'NONE' ? { transcript } : {}),
    ...(emailTranscript && options.emailFormatId !== 'NONE' ? { emailTranscript } : {}),
    ...(messagingTranscript && options.messageFormatId !== 'NONE' ? { messagingTranscript } : {}),
  }
}

/** Genesys option: screen recordings also show the secure pauses of the conversation's audio recordings. */
export function withScreenPauses(recordings: Recording[]): Recording[] {
  const pauses = recordings
    .filter((r) => r.media === 'audio')
    .flatMap((r) => r.annotations ?? [])
    .filter((a) => a.reason === 'SecurePause')
  if (pauses.length === 0) return recordings
  return recordings.map((r) =>
    r.media === 'screen'
      ? { ...r, annotations: [...(r.annotations ?? []), ...pauses].sort((a, b) => (a.location ?? 0) - (b.location ?? 0)) }
      : r,
  )
}
