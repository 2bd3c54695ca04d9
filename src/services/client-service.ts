import { randomUUID } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.js'
import { ALL_PERMISSIONS, isPermission, type Permission } from '../auth/permissions.js'
import { UNKNOWN_CLIENT_HASH, hashSecret, newSecret, verifySecret } from '../auth/secrets.js'
import { InvalidRequestError, NotFoundError } from '../errors.js'
import { DEFAULT_ORGANIZATION_ID } from './organizations.js'

/** What a verified client may do, as carried in its tokens. */
export interface ClientIdentity {
  clientId: string
  name: string
  organizationId: string
  permissions: Permission[]
}

export interface CreatedClient {
  clientId: string
  clientSecret: string
  organization: string
}

export interface ClientSummary {
  clientId: string
  name: string
  organization: string
  permissions: string[]
  createdAt: string
  revokedAt?: string
}

export function parsePermissions(list: string): Permission[] {
  if (list.trim() === 'all') return [...ALL_PERMISSIONS]
  const permissions = list.split(',').map((p) => p.trim()).filter(Boolean)
  const unknown = permissions.filter((p) => !isPermission(p))
  if (unknown.length > 0 || permissions.length === 0) {
    throw new InvalidRequestError(`Unknown permission(s): ${unknown.join(', ') || '(none given)'}. Known: all, ${ALL_PERMISSIONS.join(', ')}`)
  }
  return [...new Set(permissions)] as Permission[]
}

export function createClientService({ prisma }: { prisma: PrismaClient }) {
  return {
    /** Creates a client (and its organization when new); the secret is returned only here. */
    async create(input: { organization: string; name: string; permissions: Permission[]; clientId?: string; clientSecret?: string }): Promise<CreatedClient> {
      const clientSecret = input.clientSecret ?? newSecret()
      const secretHash = await hashSecret(clientSecret)
      // One transaction: a failed client insert leaves no new organization behind.
      const client = await prisma.$transaction(async (tx) => {
        const organization = await tx.organization.upsert({ where: { name: input.organization }, create: { name: input.organization }, update: {} })
        return tx.apiClient.create({
          data: { clientId: input.clientId ?? randomUUID(), name: input.name, organizationId: organization.id, secretHash, permissions: input.permissions },
          include: { organization: true },
        })
      })
      return { clientId: client.clientId, clientSecret, organization: client.organization.name }
    },

    async list(): Promise<ClientSummary[]> {
      const clients = await prisma.apiClient.findMany({ include: { organization: true }, orderBy: { createdAt: 'asc' } })
      return clients.map((c) => ({
        clientId: c.clientId,
        name: c.name,
        organization: c.organization.name,
        permissions: c.permissions,
        createdAt: c.createdAt.toISOString(),
        ...(c.revokedAt ? { revokedAt: c.revokedAt.toISOString() } : {}),
      }))
    },

    /** Revoked clients get no new tokens; tokens already issued stay valid until they expire. */
    async revoke(clientId: string): Promise<void> {
      const { count } = await prisma.apiClient.updateMany({ where: { clientId, revokedAt: null }, data: { revokedAt: new Date() } })
      if (count === 0) throw new NotFoundError('Client', clientId, ' (or it is already revoked)')
    },

    /** The client these credentials belong to, or null; as slow for an unknown id as for a wrong secret. */
    async verify(clientId: string, clientSecret: string): Promise<ClientIdentity | null> {
      const client = await prisma.apiClient.findUnique({ where: { clientId } })
      const matches = await verifySecret(clientSecret, client?.secretHash ?? UNKNOWN_CLIENT_HASH)
      if (!client || !matches || client.revokedAt) return null
      return { clientId: client.clientId, name: client.name, organizationId: client.organizationId, permissions: client.permissions.filter(isPermission) }
    },

    /** Makes sure the configured bootstrap client exists in the default organization with every permission and this secret. */
    async ensureBootstrapClient(clientId: string, clientSecret: string): Promise<void> {
      const secretHash = await hashSecret(clientSecret)
      await prisma.apiClient.upsert({
        where: { clientId },
        create: { clientId, name: 'bootstrap', organizationId: DEFAULT_ORGANIZATION_ID, secretHash, permissions: ALL_PERMISSIONS },
        update: { organizationId: DEFAULT_ORGANIZATION_ID, secretHash, permissions: ALL_PERMISSIONS, revokedAt: null },
      })
    },

    /** On an empty database, creates a first client with every permission in the default organization; else null. */
    async createFirstClient(): Promise<CreatedClient | null> {
      if ((await prisma.apiClient.count()) > 0) return null
      const organization = await prisma.organization.findUniqueOrThrow({ where: { id: DEFAULT_ORGANIZATION_ID } })
      return this.create({ organization: organization.name, name: 'first client', permissions: [...ALL_PERMISSIONS] })
    },
  }
}

export type ClientService = ReturnType<typeof createClientService>
