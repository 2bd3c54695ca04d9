import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

/**
 * Where EXPORT jobs write recordings, by the `integrationId` a job names: a local directory (an absolute path, or a
 * `file://` URL) or an S3 location (`s3://bucket/prefix`, with the S3_ENDPOINT / S3_REGION / S3_FORCE_PATH_STYLE
 * client settings and the standard AWS credentials).
 */
export type ExportTarget = { kind: 'directory'; path: string } | { kind: 's3'; bucket: string; prefix: string }
export type ExportTargets = ReadonlyMap<string, ExportTarget>

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/

function targetOf(id: string, location: string): ExportTarget {
  if (!ID.test(id)) throw new Error(`export target id ${JSON.stringify(id)}: letters, digits, . _ - only`)
  if (location.startsWith('s3://')) {
    const [bucket = '', ...rest] = location.slice('s3://'.length).split('/')
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new Error(`export target ${id}: ${location} names no valid bucket`)
    const prefix = rest.filter((part) => part !== '').join('/')
    return { kind: 's3', bucket, prefix: prefix === '' ? '' : `${prefix}/` }
  }
  const directory = location.startsWith('file://') ? new URL(location).pathname : location
  if (!path.isAbsolute(directory)) throw new Error(`export target ${id}: ${location} is neither an absolute path nor s3://bucket/prefix`)
  return { kind: 'directory', path: path.normalize(directory) }
}

/**
 * EXPORT_TARGETS: a JSON object `{"<id>": "<location>"}`, or a list `id=location` separated by commas, semicolons or
 * newlines. Unset or empty: no targets (an EXPORT job is refused).
 */
export function parseExportTargets(text: string | undefined): ExportTargets {
  const targets = new Map<string, ExportTarget>()
  const trimmed = text?.trim() ?? ''
  if (trimmed === '') return targets
  let entries: [string, unknown][]
  if (trimmed.startsWith('{')) {
    entries = Object.entries(JSON.parse(trimmed) as Record<string, unknown>)
  } else {
    entries = trimmed.split(/[,;\n]/).map((part) => part.trim()).filter((part) => part !== '').map((part) => {
      const at = part.indexOf('=')
      if (at < 1) throw new Error(`export target ${JSON.stringify(part)}: expected id=location`)
      return [part.slice(0, at).trim(), part.slice(at + 1).trim()]
    })
  }
  for (const [id, location] of entries) {
    if (typeof location !== 'string' || location === '') throw new Error(`export target ${id}: the location must be a non-empty string`)
    if (targets.has(id)) throw new Error(`export target ${id} is named twice`)
    targets.set(id, targetOf(id, location))
  }
  return targets
}

/** Writes named files into one export target; each appears complete or not at all, and writing one again replaces it. */
export interface ExportWriter {
  write(name: string, body: Readable | Buffer, contentType: string): Promise<void>
}

export interface S3ClientSettings {
  endpoint?: string | undefined
  region: string
  forcePathStyle: boolean
}

/** A writer for `target`. File names are relative (`<conversationId>/<recordingId>.json`). */
export async function exportWriter(target: ExportTarget, s3: S3ClientSettings): Promise<ExportWriter> {
  if (target.kind === 'directory') {
    return {
      async write(name, body) {
        const file = path.join(target.path, name)
        if (!file.startsWith(target.path + path.sep)) throw new Error(`export file name ${name} leaves its target`)
        await mkdir(path.dirname(file), { recursive: true })
        const temporary = `${file}.${randomUUID()}.tmp`
        try {
          if (Buffer.isBuffer(body)) {
            const handle = await open(temporary, 'w')
            try {
              await handle.writeFile(body)
              await handle.sync()
            } finally {
              await handle.close()
            }
          } else {
            await pipeline(body, createWriteStream(temporary))
            const handle = await open(temporary, 'r+')
            await handle.sync().finally(() => handle.close())
          }
          await rename(temporary, file)
        } catch (error) {
          await rm(temporary, { force: true })
          throw error
        }
      },
    }
  }
  // Loaded only when an S3 target is used, as the S3 media storage is.
  const [{ S3Client }, { Upload }] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')])
  const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: s3.forcePathStyle })
  return {
    async write(name, body, contentType) {
      await new Upload({ client, params: { Bucket: target.bucket, Key: `${target.prefix}${name}`, Body: body, ContentType: contentType } }).done()
    },
  }
}
