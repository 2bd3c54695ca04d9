import type { PrismaClient } from '../generated/prisma/client.js'

export interface Readiness {
  ready: boolean
  database: 'up' | 'down'
  pendingMigrations: string[]
}

/** Ready means: the database answers and every migration shipped with this build has been applied. */
export function createHealthService({ prisma, migrations }: { prisma: PrismaClient; migrations: string[] }) {
  return {
    async readiness(): Promise<Readiness> {
      try {
        const applied = await prisma.$queryRaw<{ migration_name: string }[]>`
          SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`
        const done = new Set(applied.map((row) => row.migration_name))
        const pendingMigrations = migrations.filter((name) => !done.has(name))
        return { ready: pendingMigrations.length === 0, database: 'up', pendingMigrations }
      } catch {
        // No migrations table yet counts as "up but not migrated" only if the database answered at all.
        const up = await prisma.$queryRaw`SELECT 1`.then(() => true, () => false)
        return { ready: false, database: up ? 'up' : 'down', pendingMigrations: up ? migrations : [] }
      }
    },
  }
}

export type HealthService = ReturnType<typeof createHealthService>
