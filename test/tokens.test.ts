import { afterEach, describe, expect, it, vi } from 'vitest'
import { createTokenIssuer } from '../src/auth/tokens.js'
import type { ClientIdentity } from '../src/services/client-service.js'

const settings = { signingKey: new Uint8Array(32).fill(7), issuer: 'https://recording-store.test', ttlSeconds: 60 }
const client: ClientIdentity = {
  clientId: 'cache-client',
  name: 'cache test',
  organizationId: '00000000-0000-7000-8000-000000000001',
  permissions: ['recording:recording:view'],
}

/** Checked tokens are remembered until they expire; these tests make sure remembering never accepts what a check would refuse. */
describe('token verification cache', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('answers a token it has checked with the same frozen identity', async () => {
    const tokens = createTokenIssuer(settings)
    const token = await tokens.issue(client)
    const first = await tokens.verify(token)
    expect(first).toEqual(client)
    expect(await tokens.verify(token)).toBe(first)
    expect(Object.isFrozen(first) && Object.isFrozen(first.permissions)).toBe(true)
  })

  it('refuses a remembered token once it has expired', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'))
    const tokens = createTokenIssuer(settings)
    const token = await tokens.issue(client)
    await tokens.verify(token)
    vi.setSystemTime(new Date('2026-01-01T00:00:59.999Z'))
    expect((await tokens.verify(token)).clientId).toBe(client.clientId)
    vi.setSystemTime(new Date('2026-01-01T00:01:00Z'))
    await expect(tokens.verify(token)).rejects.toThrow('the access token has expired')
    await expect(tokens.verify(token)).rejects.toThrow('the access token has expired')
  })

  it('still checks every other token in full, however alike', async () => {
    const tokens = createTokenIssuer(settings)
    const token = await tokens.issue(client)
    await tokens.verify(token)
    const [header, payload, signature] = token.split('.') as [string, string, string]
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`
    await expect(tokens.verify(`${header}.${payload}.${flipped}`)).rejects.toThrow('signature does not verify')
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), org: 'another' })).toString('base64url')
    await expect(tokens.verify(`${header}.${forged}.${signature}`)).rejects.toThrow('signature does not verify')
    const other = createTokenIssuer({ ...settings, signingKey: new Uint8Array(32).fill(8) })
    await expect(other.verify(token)).rejects.toThrow('signature does not verify')
  })

  it('stays bounded: the oldest tokens are forgotten, and checked again when they come back', async () => {
    const tokens = createTokenIssuer(settings)
    const issued = await Promise.all(Array.from({ length: 1100 }, (_, i) => tokens.issue({ ...client, clientId: `client-${i}` })))
    for (const token of issued) await tokens.verify(token)
    const oldest = issued[0] as string
    const again = await tokens.verify(oldest)
    expect(again.clientId).toBe('client-0')
    expect(await tokens.verify(oldest)).toBe(again)
  })
})
