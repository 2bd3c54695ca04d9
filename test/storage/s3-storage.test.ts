import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { createLocalStorage, DigestMismatchError, mediaKey, MediaMissingError, MediaTooLargeError, type MediaStorage } from '../../src/storage/media-storage.js'
import { createS3Storage } from '../../src/storage/s3-storage.js'
import { startS3rver, type S3Server } from '../s3.js'

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest()
const bytesOf = async (stream: Readable) => {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
/** Bytes that differ at every position, so a wrong range shows. */
const pattern = (size: number) => Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + (i >> 8)) % 256))
/** A fresh key: organization and recording of their own, so tests sharing a store never see each other's keys. */
const freshKey = (name = 'media.wav') => mediaKey(randomUUID(), randomUUID(), name)

let s3: S3Server
let dir: string
beforeAll(async () => {
  s3 = await startS3rver()
  dir = await mkdtemp(path.join(tmpdir(), 'storage-test-'))
})
afterAll(async () => {
  await s3?.stop()
  await rm(dir, { recursive: true, force: true })
})

interface Backend {
  storage: MediaStorage
  /** Temporary files an interrupted or refused write could have left. */
  leftovers(): Promise<string[]>
  /** Where a write of `key` keeps its temporary file. */
  temporaryFileFor(key: string): string
}

const partsUnder = async (root: string) =>
  (await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []))
    .filter((entry) => entry.isFile() && entry.name.endsWith('.part'))
    .map((entry) => path.join(entry.parentPath, entry.name))

const backends: Record<'local' | 's3', () => Backend> = {
  local() {
    const root = path.join(dir, 'local')
    return {
      storage: createLocalStorage(root),
      leftovers: () => partsUnder(root),
      temporaryFileFor: (key) => {
        const file = path.join(root, ...key.split('/'))
        return path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.part`)
      },
    }
  },
  s3() {
    const temporaryDir = path.join(dir, 's3-tmp')
    return {
      storage: createS3Storage({ endpoint: s3.endpoint, bucket: s3.bucket, region: 'us-east-1', forcePathStyle: true, temporaryDir }),
      leftovers: () => partsUnder(temporaryDir),
      temporaryFileFor: () => path.join(temporaryDir, `${randomUUID()}.part`),
    }
  },
}

describe.each(['local', 's3'] as const)('%s media storage', (kind) => {
  let backend: Backend
  let storage: MediaStorage
  beforeAll(() => {
    backend = backends[kind]()
    storage = backend.storage
  })

  const keysOf = async (organizationId: string) => {
    const keys: string[] = []
    for await (const { key } of storage.list()) if (key.startsWith(`${organizationId}/`)) keys.push(key)
    return keys
  }
  /** A refused write leaves nothing: no key listed, nothing to stat, no temporary file. */
  const expectNothingKept = async (key: string) => {
    expect(await keysOf(key.split('/')[0]!)).toEqual([])
    expect(await storage.stat(key)).toBeUndefined()
    expect(await backend.leftovers()).toEqual([])
  }

  it('is of its kind', () => {
    expect(storage.kind).toBe(kind)
  })

  it('writes bytes and answers their size and SHA-256; reads them back whole and by range; stat gives the size', async () => {
    const key = freshKey()
    const bytes = pattern(70_000)
    const written = await storage.write(key, Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), { maxBytes: bytes.length, expectedSha256: sha256(bytes) })
    expect(written.size).toBe(bytes.length)
    expect(written.sha256.equals(sha256(bytes))).toBe(true)
    expect((await bytesOf(await storage.read(key))).equals(bytes)).toBe(true)
    expect((await bytesOf(await storage.read(key, { start: 100, end: 4099 }))).equals(bytes.subarray(100, 4100))).toBe(true)
    expect((await bytesOf(await storage.read(key, { start: 69_990 }))).equals(bytes.subarray(69_990))).toBe(true)
    expect(await storage.stat(key)).toEqual({ size: bytes.length })
    expect(await backend.leftovers()).toEqual([])
  })

  it('runs verify on the complete bytes in a local file before they become visible under the key', async () => {
    const key = freshKey()
    const bytes = pattern(5000)
    let seen: { onDisk: Buffer; size: number; visible: unknown } | undefined
    await storage.write(key, Readable.from([bytes]), {
      maxBytes: 10_000,
      verify: async (file, written) => {
        seen = { onDisk: await readFile(file), size: written.size, visible: await storage.stat(key) }
      },
    })
    expect(seen?.onDisk.equals(bytes)).toBe(true)
    expect(seen?.size).toBe(bytes.length)
    expect(seen?.visible).toBeUndefined()
    expect(await storage.stat(key)).toEqual({ size: bytes.length })
  })

  it('keeps nothing when the bytes do not match the expected SHA-256', async () => {
    const key = freshKey()
    const write = storage.write(key, Readable.from([pattern(3000)]), { maxBytes: 10_000, expectedSha256: sha256(pattern(3001)) })
    await expect(write).rejects.toBeInstanceOf(DigestMismatchError)
    await expectNothingKept(key)
  })

  it('keeps nothing when the bytes exceed the cap', async () => {
    const key = freshKey()
    const write = storage.write(key, Readable.from([pattern(3000), pattern(3000)]), { maxBytes: 5000 })
    await expect(write).rejects.toBeInstanceOf(MediaTooLargeError)
    await expectNothingKept(key)
  })

  it('keeps nothing when verify refuses the bytes', async () => {
    const key = freshKey()
    const refusal = new Error('not media')
    const write = storage.write(key, Readable.from([pattern(3000)]), { maxBytes: 10_000, verify: () => Promise.reject(refusal) })
    await expect(write).rejects.toBe(refusal)
    await expectNothingKept(key)
  })

  it('keeps nothing when the source fails midway', async () => {
    const key = freshKey()
    const source = Readable.from(
      (async function* () {
        yield pattern(2000)
        throw new Error('connection reset')
      })(),
    )
    await expect(storage.write(key, source, { maxBytes: 10_000 })).rejects.toThrow('connection reset')
    await expectNothingKept(key)
  })

  it('answers undefined to stat of a key that holds nothing', async () => {
    expect(await storage.stat(freshKey())).toBeUndefined()
  })

  it('refuses to read a key that holds nothing with MediaMissingError (a 404), before any byte', async () => {
    await expect(storage.read(freshKey())).rejects.toBeInstanceOf(MediaMissingError)
    await expect(storage.read(freshKey(), { start: 0, end: 9 })).rejects.toMatchObject({ status: 404, code: 'not.found' })
  })

  it('deletes bytes; deleting a key that holds nothing is no error', async () => {
    const key = freshKey()
    await storage.write(key, Readable.from([pattern(100)]), { maxBytes: 100 })
    await storage.delete(key)
    expect(await storage.stat(key)).toBeUndefined()
    await storage.delete(key)
    await storage.delete(freshKey())
  })

  it('lists every stored key with its last change', async () => {
    const organizationId = randomUUID()
    const keys = [mediaKey(organizationId, randomUUID(), 'a.wav'), mediaKey(organizationId, randomUUID(), 'b.wav'), mediaKey(organizationId, randomUUID(), 'c.wav')]
    const before = Date.now() - 2000
    for (const key of keys) await storage.write(key, Readable.from([pattern(10)]), { maxBytes: 10 })
    const listed: { key: string; modifiedAt: Date }[] = []
    for await (const entry of storage.list()) if (entry.key.startsWith(`${organizationId}/`)) listed.push(entry)
    expect(listed.map((entry) => entry.key).sort()).toEqual([...keys].sort())
    for (const { modifiedAt } of listed) expect(modifiedAt.getTime()).toBeGreaterThan(before)
  })

  it('removes temporary files untouched since the given time, and leaves newer ones and stored bytes alone', async () => {
    const stored = freshKey()
    await storage.write(stored, Readable.from([pattern(10)]), { maxBytes: 10 })
    const old = backend.temporaryFileFor(freshKey())
    const recent = backend.temporaryFileFor(freshKey())
    for (const file of [old, recent]) {
      await mkdir(path.dirname(file), { recursive: true })
      await writeFile(file, 'partial')
    }
    const anHourAgo = new Date(Date.now() - 3_600_000)
    await utimes(old, anHourAgo, anHourAgo)

    expect(await storage.removeAbandoned(new Date(Date.now() - 60_000))).toBe(1)
    expect((await backend.leftovers()).sort()).toEqual([recent])
    expect(await storage.stat(stored)).toEqual({ size: 10 })

    expect(await storage.removeAbandoned(new Date(Date.now() + 60_000))).toBe(1)
    expect(await backend.leftovers()).toEqual([])
  })
})

describe('s3 media storage, beyond the common contract', () => {
  let storage: MediaStorage
  beforeAll(() => {
    storage = backends.s3().storage
  })

  it('stores bytes larger than a part in a multipart upload, byte for byte', async () => {
    const key = freshKey()
    const bytes = pattern(11 * 1024 ** 2 + 123) // three parts of 5 MiB
    const written = await storage.write(key, Readable.from([bytes]), { maxBytes: bytes.length, expectedSha256: sha256(bytes) })
    expect(written.size).toBe(bytes.length)
    expect(await storage.stat(key)).toEqual({ size: bytes.length })
    expect(sha256(await bytesOf(await storage.read(key))).equals(sha256(bytes))).toBe(true)
    const boundary = 5 * 1024 ** 2
    expect((await bytesOf(await storage.read(key, { start: boundary - 10, end: boundary + 9 }))).equals(bytes.subarray(boundary - 10, boundary + 10))).toBe(true)
  })

  it('presigns a GET that reads the bytes with the given type, the same URL for the same key and expiry', async () => {
    const key = freshKey()
    const bytes = pattern(2000)
    await storage.write(key, Readable.from([bytes]), { maxBytes: bytes.length })
    const expiresAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 600_000)
    const url = await storage.presign!(key, { expiresAt, contentType: 'audio/wav' })
    expect(url.startsWith(`${s3.endpoint}/${s3.bucket}/${key}?`)).toBe(true)
    expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('604800')

    const res = await fetch(url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('audio/wav')
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)

    const ranged = await fetch(url, { headers: { range: 'bytes=10-19' } })
    expect(ranged.status).toBe(206)
    expect(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(10, 20))).toBe(true)

    await new Promise((resolve) => setTimeout(resolve, 1100))
    expect(await storage.presign!(key, { expiresAt, contentType: 'audio/wav' })).toBe(url)
    expect(await storage.presign!(key, { expiresAt: new Date(expiresAt.getTime() + 1000), contentType: 'audio/wav' })).not.toBe(url)
  })

  it('presigns URLs that S3 refuses with 403 once expired', async () => {
    const key = freshKey()
    await storage.write(key, Readable.from([pattern(10)]), { maxBytes: 10 })
    const url = await storage.presign!(key, { expiresAt: new Date(Date.now() - 2000), contentType: 'audio/wav' })
    const res = await fetch(url)
    expect(res.status).toBe(403)
    expect(await res.text()).toMatch(/expired/i)
  })

  it('refuses to presign beyond the week a presigned URL can live', async () => {
    await expect(storage.presign!(freshKey(), { expiresAt: new Date(Date.now() + 8 * 86_400_000), contentType: 'audio/wav' })).rejects.toThrow(/at most 604800 s/)
  })
})
