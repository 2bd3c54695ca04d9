import type { PrismaClient } from '../generated/prisma/client.js'

/** How readiness names the job queue's schema while it is missing. */
export const JOB_QUEUE_MIGRATIONS = 'graphile-worker'

export interface Readiness {
  ready: boolean
  database: 'up' | 'down'
  pendingMigrations: string[]
}

/** Ready means: the database answers and every migration shipped with this build (and the job queue's) has been applied. */
export function createHealthService({ prisma, migrations }: { prisma: PrismaClient; migrations: string[] }) {
  return {
    async readiness(): Promise<Readiness> {
      try {
        const applied = await prisma.$queryRaw<{ migration_name: string }[]>`
          SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`
        const done = new Set(applied.map((row) => row.migration_name))
        const pendingMigrations = migrations.filter((name) => !done.has(name))
        // The job queue's schema, which the service's triggers write to, is installed with the migrations.
        const [queue] = await prisma.$queryRaw<{ installed: boolean }[]>`SELECT to_regclass('graphile_worker.jobs') IS NOT NULL AS installed`
        if (!queue?.installed) pendingMigrations.push(JOB_QUEUE_MIGRATIONS)
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
