import type { FastifyRequest } from 'fastify'

/** Every change is logged with who made it (organization and client), what it was, and the ids it touched. */
export function audit(request: FastifyRequest, action: string, ids: Record<string, string | undefined>) {
  request.log.info({ audit: { action, organizationId: request.organizationId, clientId: request.client?.clientId, ...ids } }, 'audit')
}
