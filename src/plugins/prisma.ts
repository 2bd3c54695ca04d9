import { PrismaPg } from '@prisma/adapter-pg'
import fp from 'fastify-plugin'
import { PrismaClient } from '../generated/prisma/client.js'

declare module 'fastify' {
  interface FastifyInstance {
    prisma: PrismaClient
  }
}

export interface PrismaPluginOptions {
  databaseUrl: string
  poolSize: number
}

/** One PrismaClient per app, over node-postgres; disconnected when the app closes (after requests drained). */
export default fp<PrismaPluginOptions>(
  async (app, { databaseUrl, poolSize }) => {
    const prisma = new PrismaClient({
      // A bounded connect: an unreachable database fails readiness quickly instead of hanging the probe.
      adapter: new PrismaPg({ connectionString: databaseUrl, max: poolSize, connectionTimeoutMillis: 5_000 }),
    })
    app.decorate('prisma', prisma)
    app.addHook('onClose', async () => {
      await prisma.$disconnect()
    })
  },
  { name: 'prisma' },
)
