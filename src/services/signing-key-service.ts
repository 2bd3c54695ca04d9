import { randomBytes } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.js'

const NAME = 'token-signing-key'

/**
 * The key tokens are signed with: from configuration when given, else generated on first start and kept in the
 * database, so every instance (and every restart) signs and checks with the same key.
 */
export async function loadSigningKey(prisma: PrismaClient, configured: string | undefined): Promise<Uint8Array> {
  if (configured) return new TextEncoder().encode(configured)
  await prisma.serviceKey.createMany({ data: [{ name: NAME, secret: randomBytes(32).toString('base64url') }], skipDuplicates: true })
  const { secret } = await prisma.serviceKey.findUniqueOrThrow({ where: { name: NAME } })
  return Buffer.from(secret, 'base64url')
}
