import { PrismaPg } from '@prisma/adapter-pg'
import { defineConfig } from 'prisma/config'

// `prisma generate` tries to download a query engine when the schema's env("DATABASE_URL") is unset or empty, although
// the generated client never uses one; a placeholder keeps it offline. Empty counts as unset, as everywhere else.
// Commands that connect get the real URL (without DATABASE_URL, `npm start` runs an embedded PostgreSQL and passes its
// URL to the CLI it spawns).
process.env.DATABASE_URL ||= 'postgresql://localhost/unset'

// The `js` engine with a driver adapter runs migrations through the CLI's bundled wasm schema engine,
// so nothing is downloaded from Prisma's binary host.
export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  // The CLI never ends the pool; without allowExitOnIdle every command lingers ~10 s for idle connections to time out.
  adapter: async () => new PrismaPg({ connectionString: process.env.DATABASE_URL, allowExitOnIdle: true }),
})
