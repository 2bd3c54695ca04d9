// Runs `npm run build` when dist/ is missing or older than the sources or the Prisma schema,
// so that `npm start` works straight after `npm ci` and stays quick afterwards.
import { execSync } from 'node:child_process'
import { readdirSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const mtime = (file) => {
  try {
    return statSync(file).mtimeMs
  } catch {
    return 0
  }
}
const newestSource = readdirSync(path.join(root, 'src'), { withFileTypes: true, recursive: true })
  .filter((entry) => entry.isFile() && !entry.parentPath.includes(`${path.sep}generated`))
  .reduce((latest, entry) => Math.max(latest, mtime(path.join(entry.parentPath, entry.name))), 0)
const sources = Math.max(newestSource, mtime(path.join(root, 'prisma', 'schema.prisma')))
// tsc leaves unchanged output files alone, so the time of the last build is kept in a stamp of its own.
const stamp = path.join(root, 'dist', '.build-stamp')
const built = mtime(path.join(root, 'dist', 'server.js')) > 0 ? mtime(stamp) : 0

if (sources > built) {
  // On stderr: stdout belongs to the command that follows (JSON logs, the clients command's JSON).
  console.error('building (sources changed since the last build)...')
  execSync('npm run build', { cwd: root, stdio: ['ignore', process.stderr, 'inherit'] })
  writeFileSync(stamp, `${new Date().toISOString()}\n`)
}
