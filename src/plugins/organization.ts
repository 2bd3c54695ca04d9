import fp from 'fastify-plugin'

/** The organization every recording belongs to until clients authenticate (created by the first migration). */
export const DEFAULT_ORGANIZATION_ID = '00000000-0000-7000-8000-000000000001'

declare module 'fastify' {
  interface FastifyRequest {
    /** Organization the request acts for; every query is scoped to it. */
    organizationId: string
  }
}

export default fp(
  async (app) => {
    app.decorateRequest('organizationId', DEFAULT_ORGANIZATION_ID)
  },
  { name: 'organization' },
)
