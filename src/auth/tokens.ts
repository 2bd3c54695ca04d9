import { createSecretKey, randomBytes } from 'node:crypto'
import { SignJWT, errors, jwtVerify } from 'jose'
import { isPermission, type Permission } from './permissions.js'
import type { ClientIdentity } from '../services/client-service.js'

/** RFC 9068 access-token type; a token of another `typ` (an ID token, say) is refused. */
const TYP = 'at+jwt'
const ALGORITHM = 'HS256'
export const TOKEN_AUDIENCE = 'recording-store-api'
const CLOCK_TOLERANCE_SECONDS = 60
/**
 * Tokens whose signature and claims were checked, kept until they expire: a client sends the same token for hours,
 * and checking its HMAC through WebCrypto on every request took a sixth of the CPU of a GET. Bounded; when full, the
 * oldest entry goes.
 */
const VERIFIED_CAPACITY = 1024

export interface TokenSettings {
  /** At least 32 bytes of secret material. */
  signingKey: Uint8Array
  issuer: string
  ttlSeconds: number
}

export class InvalidTokenError extends Error {}

/** Signs and checks access tokens. Checking needs no database: everything a request needs is in the token. */
export function createTokenIssuer({ signingKey: secret, issuer, ttlSeconds }: TokenSettings) {
  // A KeyObject made once: given raw bytes, jose imports the key again on every signature check.
  const signingKey = createSecretKey(secret)
  const verified = new Map<string, { identity: ClientIdentity; exp: number }>()
  return {
    ttlSeconds,

    async issue(client: ClientIdentity): Promise<string> {
      return new SignJWT({ org: client.organizationId, client_id: client.clientId, name: client.name, permissions: client.permissions })
        .setProtectedHeader({ alg: ALGORITHM, typ: TYP })
        .setIssuer(issuer)
        .setAudience(TOKEN_AUDIENCE)
        .setSubject(client.clientId)
        .setJti(randomBytes(12).toString('base64url'))
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(signingKey)
    },

    async verify(token: string): Promise<ClientIdentity> {
      const known = verified.get(token)
      // jose's rule: a token expires at the start of its `exp` second. Expired entries are checked again (and refused).
      if (known && Math.floor(Date.now() / 1000) < known.exp) return known.identity
      verified.delete(token)
      const { identity, exp } = await check(token)
      if (verified.size >= VERIFIED_CAPACITY) verified.delete(verified.keys().next().value as string)
      verified.set(token, { identity, exp })
      return identity
    },
  }

  /** The full check: signature, algorithm, type, issuer, audience, lifetime and the claims this service needs. */
  async function check(token: string): Promise<{ identity: ClientIdentity; exp: number }> {
    try {
      const { payload } = await jwtVerify(token, signingKey, {
        algorithms: [ALGORITHM],
        issuer,
        audience: TOKEN_AUDIENCE,
        typ: TYP,
        requiredClaims: ['exp', 'iat', 'sub', 'org'],
      })
      const { org, permissions, name, iat } = payload
      if (typeof org !== 'string' || !Array.isArray(permissions)) throw new InvalidTokenError('the token lacks its organization or permissions')
      // jose checks `iat` only against a maximum age; a token from the future is not one this service issued.
      if (typeof iat === 'number' && iat > Date.now() / 1000 + CLOCK_TOLERANCE_SECONDS) throw new InvalidTokenError('the access token is issued in the future')
      // Shared by every request that carries the token: frozen, so no request can change what the next one sees.
      const identity = Object.freeze({
        clientId: payload.sub as string,
        name: typeof name === 'string' ? name : '',
        organizationId: org,
        permissions: Object.freeze(permissions.filter((p): p is Permission => typeof p === 'string' && isPermission(p))) as Permission[],
      })
      return { identity, exp: payload.exp as number }
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error
      if (error instanceof errors.JWTExpired) throw new InvalidTokenError('the access token has expired')
      if (error instanceof errors.JWTClaimValidationFailed) throw new InvalidTokenError(`the access token's ${error.claim} claim is not accepted`)
      if (error instanceof errors.JWSSignatureVerificationFailed) throw new InvalidTokenError('the access token signature does not verify')
      throw new InvalidTokenError('the access token is malformed or not issued by this service')
    }
  }
}

export type TokenIssuer = ReturnType<typeof createTokenIssuer>
