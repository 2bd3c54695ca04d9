import { PrismaPg } from '@prisma/adapter-pg'
import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import pg from 'pg'
import { PrismaClient, type Prisma } from '../generated/prisma/client.js'

declare module 'fastify' {
  interface FastifyInstance {
    prisma: PrismaClient
    /** Hot reads straight through the driver, on the pool the Prisma client runs on. */
    sqlReader: SqlReader
  }
}

/**
 * Runs a read built with Prisma.sql on the connection pool of the Prisma client, as a prepared statement, without
 * Prisma's per-call work (its query compiler parses every statement's text on every call: ~120 µs for the ~5 kB of
 * the recording JSON, more than PostgreSQL takes to run it). Rows come as node-postgres gives them: select text,
 * booleans and arrays. Errors are node-postgres' own, which the error handler knows.
 */
export interface SqlReader {
  rows<T>(query: Prisma.Sql): Promise<T[]>
}

export interface PrismaPluginOptions {
  databaseUrl: string
  poolSize: number
  connectTimeoutMs: number
  statementTimeoutMs: number
}

/**
 * A statement's name is a digest of its text, remembered per text. The texts are static SQL with placeholders, so
 * there are few; the bound is only a guard. Looked up by length, then compared: a Map keyed by the text hashed all
 * ~7 kB of it on every request (the text is built afresh each time), ~15 µs, the largest JavaScript cost of a GET.
 */
const statementNames = new Map<number, { sql: string; name: string | undefined }[]>()
let remembered = 0
function statementName(sql: string): string | undefined {
  const known = statementNames.get(sql.length)?.find((entry) => entry.sql === sql)
  if (known) return known.name
  if (remembered >= 1000) {
    statementNames.clear()
    remembered = 0
  }
  // Full-text statements stay unnamed: their best plan depends on how common the words are, which a generic plan of
  // a prepared statement cannot know (measured: search took about twice the CPU when prepared).
  const name = sql.includes('tsquery') ? undefined : `rs_${createHash('sha1').update(sql).digest('base64url')}`
  const sameLength = statementNames.get(sql.length)
  if (sameLength) sameLength.push({ sql, name })
  else statementNames.set(sql.length, [{ sql, name }])
  remembered++
  return name
}

/** One PrismaClient per app, over node-postgres; disconnected when the app closes (after requests drained). */
export default fp<PrismaPluginOptions>(
  async (app, { databaseUrl, poolSize, connectTimeoutMs, statementTimeoutMs }) => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize, connectionTimeoutMillis: connectTimeoutMs, statement_timeout: statementTimeoutMs })
    // Errors of idle connections (the server went away) are the pool's; without a listener they would end the process.
    pool.on('error', (error) => app.log.warn({ err: error }, 'idle database connection lost'))
    const prisma = new PrismaClient({
      // Errors never reach clients as they are (the error handler answers them), so Prisma need not capture a stack
      // trace at every query to point its messages at the caller: that is what it does unless errorFormat is minimal
      // (the default only with NODE_ENV=production).
      errorFormat: 'minimal',
      // Every wait is bounded, so a request on a dead or overloaded database ends in a 503 instead of hanging: getting
      // a connection (a new one, or a free one of a busy pool) and each statement (PostgreSQL cancels it). Named
      // statements are prepared once per connection; unnamed ones are parsed and planned again on every request,
      // which cost more than running them (GET one: ~2.4 ms of parse + plan for 0.5 ms of execution).
      adapter: new PrismaPg(pool, { statementNameGenerator: (query) => statementName(query.sql) as string }),
    })
    app.decorate('prisma', prisma)
    app.decorate('sqlReader', {
      async rows<T>(query: Prisma.Sql): Promise<T[]> {
        // Prisma.Sql builds its text on every read of `text`: once here.
        const text = query.text
        const name = statementName(text)
        const result = await pool.query({ text, values: query.values, ...(name ? { name } : {}) })
        return result.rows as T[]
      },
    } satisfies SqlReader)
    app.addHook('onClose', async () => {
      await prisma.$disconnect()
      await pool.end()
    })
  },
  { name: 'prisma' },
)
