import { PrismaPg } from '@prisma/adapter-pg'
import { createHash } from 'node:crypto'
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
  connectTimeoutMs: number
  statementTimeoutMs: number
}

/**
 * A statement's name is a digest of its text, remembered per text (hashing ~5 kB on every request showed in
 * profiles). The texts are static SQL with placeholders, so there are few; the bound is only a guard.
 */
const statementNames = new Map<string, string>()
function statementName(sql: string): string | undefined {
  // Full-text statements stay unnamed: their best plan depends on how common the words are, which a generic plan of
  // a prepared statement cannot know (measured: search took about twice the CPU when prepared).
  if (sql.includes('tsquery')) return undefined
  let name = statementNames.get(sql)
  if (name === undefined) {
    if (statementNames.size >= 1000) statementNames.clear()
    name = `rs_${createHash('sha1').update(sql).digest('base64url')}`
    statementNames.set(sql, name)
  }
  return name
}

/** One PrismaClient per app, over node-postgres; disconnected when the app closes (after requests drained). */
export default fp<PrismaPluginOptions>(
  async (app, { databaseUrl, poolSize, connectTimeoutMs, statementTimeoutMs }) => {
    const prisma = new PrismaClient({
      // Errors never reach clients as they are (the error handler answers them), so Prisma need not capture a stack
      // trace at every query to point its messages at the caller: that is what it does unless errorFormat is minimal
      // (the default only with NODE_ENV=production).
      errorFormat: 'minimal',
      // Every wait is bounded, so a request on a dead or overloaded database ends in a 503 instead of hanging: getting
      // a connection (a new one, or a free one of a busy pool) and each statement (PostgreSQL cancels it). Named
      // statements are prepared once per connection; unnamed ones are parsed and planned again on every request,
      // which cost more than running them (GET one: ~2.4 ms of parse + plan for 0.5 ms of execution).
      adapter: new PrismaPg(
        { connectionString: databaseUrl, max: poolSize, connectionTimeoutMillis: connectTimeoutMs, statement_timeout: statementTimeoutMs },
        { statementNameGenerator: (query) => statementName(query.sql) as string },
      ),
    })
    app.decorate('prisma', prisma)
    app.addHook('onClose', async () => {
      await prisma.$disconnect()
    })
  },
  { name: 'prisma' },
)
