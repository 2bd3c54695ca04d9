import { randomFillSync } from 'node:crypto'

// Prisma's `@default(uuid(7))` is applied by its client, not by the database (the columns have no default), so rows
// written with raw SQL need ids from here. PostgreSQL 15 has no uuidv7() either.

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const bytes = new Uint8Array(16)
let lastMs = -1
let counter = 0

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits. The 12 bits after the version are a counter within
 * the millisecond (method 1 of §6.2), so ids made in one request sort in the order they were made, as annotations
 * with the same location are listed by id.
 */
export function uuid7(): string {
  let ms = Date.now()
  randomFillSync(bytes)
  if (ms > lastMs) {
    // A random start with the top bit clear leaves room to count up within the millisecond.
    counter = ((bytes[6] as number) & 0x07) << 8 | (bytes[7] as number)
  } else {
    counter += 1
    if (counter > 0xfff) {
      counter = 0
      lastMs += 1
    }
    ms = lastMs
  }
  lastMs = ms
  bytes[0] = Math.floor(ms / 2 ** 40) & 0xff
  bytes[1] = Math.floor(ms / 2 ** 32) & 0xff
  bytes[2] = (ms >>> 24) & 0xff
  bytes[3] = (ms >>> 16) & 0xff
  bytes[4] = (ms >>> 8) & 0xff
  bytes[5] = ms & 0xff
  bytes[6] = 0x70 | (counter >>> 8)
  bytes[7] = counter & 0xff
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f)
  const h = (i: number) => HEX[bytes[i] as number] as string
  return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`
}
