import { spawn } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import { installJobQueue } from './job-queue.js'

/** The project root: `src/db` and `dist/db` both sit two levels below it. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'prisma', 'migrations')

/** Names of the migrations shipped with this build, oldest first. */
export async function shippedMigrations(): Promise<string[]> {
  const entries = await readdir(MIGRATIONS_DIR, { withFileTypes: true })
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort()
}

/** What `prisma migrate deploy` (6.19) prints once it has applied everything or found nothing to apply. */
const DONE = /All migrations have been successfully applied|No pending migrations to apply/

/**
 * Applies pending migrations with `prisma migrate deploy` (the same command `npm run db:deploy` runs), through the
 * CLI's bundled wasm schema engine configured in prisma.config.ts, and installs the job queue's schema.
 *
 * The CLI's wasm engine leaves a 10-second timer pending after it has finished, so the process lingers that long
 * before exiting; once it has reported success it is ended instead of waited for.
 */
export async function applyMigrations(databaseUrl: string, logger: Logger): Promise<void> {
  const cli = path.join(path.dirname(createRequire(import.meta.url).resolve('prisma/package.json')), 'build', 'index.js')
  const started = performance.now()
  let output = ''
  const { code, done } = await new Promise<{ code: number | null; done: boolean }>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'migrate', 'deploy'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl, CHECKPOINT_DISABLE: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let done = false
    const collect = (chunk: Buffer) => {
      output += chunk.toString()
      if (!done && DONE.test(output)) {
        done = true
        child.kill('SIGTERM')
      }
    }
    child.stdout.on('data', collect)
    child.stderr.on('data', collect)
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, done }))
  })
  if (!done && code !== 0) {
    throw new Error(`database migration failed (prisma migrate deploy exited with ${code}):\n${output.trim()}`)
  }
  const upToDate = output.includes('No pending migrations')
  await installJobQueue(databaseUrl, logger)
  logger.info(
    { ms: Math.round(performance.now() - started) },
    upToDate ? 'database schema up to date' : 'migrations applied',
  )
}
