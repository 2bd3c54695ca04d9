import { spawn } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'

/** The project root: `src/db` and `dist/db` both sit two levels below it. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'prisma', 'migrations')

/** Names of the migrations shipped with this build, oldest first. */
export async function shippedMigrations(): Promise<string[]> {
  const entries = await readdir(MIGRATIONS_DIR, { withFileTypes: true })
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort()
}

/**
 * Applies pending migrations with `prisma migrate deploy` (the same command `npm run db:deploy` runs), through the
 * CLI's bundled wasm engine configured in prisma.config.ts.
 */
export async function applyMigrations(databaseUrl: string, logger: Logger): Promise<void> {
  const cli = path.join(path.dirname(createRequire(import.meta.url).resolve('prisma/package.json')), 'build', 'index.js')
  const started = performance.now()
  const output: string[] = []
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'migrate', 'deploy'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()))
    child.on('error', reject)
    child.on('close', resolve)
  })
  const text = output.join('')
  if (code !== 0) {
    throw new Error(`database migration failed (prisma migrate deploy exited with ${code}):\n${text.trim()}`)
  }
  const upToDate = text.includes('No pending migrations')
  logger.info({ ms: Math.round(performance.now() - started), pending: !upToDate }, upToDate ? 'database schema up to date' : 'migrations applied')
}
