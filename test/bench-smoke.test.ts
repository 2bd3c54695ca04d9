import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { PROJECT_ROOT } from '../src/db/migrations.js'
import { withAdminClient } from './database.js'

/** The parts of bench/results/*.json this test reads. */
interface BenchReport {
  endpoints: { key: string; label: string; unavailable?: string; check?: string; service?: { rps: number; failed: number }; baseline?: { rps: number; failed: number } }[]
  targets: { target: string; status: string }[]
  media: { key: string; label: string; unavailable?: string; check?: string; service?: number; baseline?: number; failed?: Record<string, number> }[]
  transcode: { key: string; label: string; unavailable?: string; check?: string; measured?: number; baseline?: number }[]
  webhooks: { key: string; label: string; unavailable?: string; check?: string; measured?: number; baseline?: number }[]
  recordingJobs: { key: string; label: string; unavailable?: string; check?: string; measured?: number; baseline?: number }[]
}

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, output }))
  })
}

// Performance targets are read from `npm run bench`, never asserted here: this only keeps the bench from rotting.
describe('the benchmark (npm run bench) in smoke mode', () => {
  it('seeds, drives the service and the baseline on every endpoint, media, transcoding, webhook and bulk-job row, and reports each', async () => {
    const { serverUrl, prefix } = inject('testDatabase')
    const built = await run([path.join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'bench/tsconfig.json'])
    expect(built.code, built.output).toBe(0)

    const out = await mkdtemp(path.join(os.tmpdir(), 'recording-store-bench-'))
    // Named with the run's prefix, so the test run's teardown drops it even if this test dies half-way.
    const database = `${prefix}bench`
    try {
      const bench = await run(['bench/dist/run.js', '--smoke', '--database', database, '--drop', '--out', out], { DATABASE_URL: serverUrl })
      expect(bench.code, bench.output).toBe(0)
      const report = JSON.parse(await readFile(path.join(out, 'latest.json'), 'utf8')) as BenchReport
      const table = await readFile(path.join(out, 'latest.md'), 'utf8')

      expect(report.endpoints.map((endpoint) => endpoint.key)).toEqual(['get', 'list', 'first', 'deep', 'search', 'search-single', 'ingest'])
      for (const endpoint of report.endpoints) {
        const where = `${endpoint.label}:\n${bench.output}`
        expect(endpoint.unavailable, where).toBeUndefined()
        expect(endpoint.service?.rps, where).toBeGreaterThan(0)
        expect(endpoint.baseline?.rps, where).toBeGreaterThan(0)
        expect(endpoint.service?.failed, where).toBe(0)
        expect(endpoint.baseline?.failed, where).toBe(0)
        // The baseline must keep answering exactly what the service answers, or the ratios compare different work:
        // when the service's answers change, bench/sql.ts has to follow.
        expect(endpoint.check, where).toMatch(/^identical/)
        expect(table).toContain(`| **${endpoint.label}** | service |`)
      }
      expect(report.targets.map((target) => target.status)).toHaveLength(6)
      expect(table).toContain('### Targets')

      // 1 MB files and 2 clients in a smoke run, stored under a DATA_DIR of the bench's own.
      expect(report.media.map((result) => result.key)).toEqual(['media-upload', 'media-upload', 'media-download', 'media-range', 'media-rss'])
      for (const result of report.media) {
        const where = `${result.label}:\n${bench.output}`
        expect(result.unavailable, where).toBeUndefined()
        expect(result.service, where).toBeGreaterThan(0)
        expect(result.baseline, where).toBeGreaterThan(0)
        expect(result.failed, where).toEqual({ service: 0, baseline: 0 })
        expect(table).toContain(`| **${result.label}** |`)
      }
      // Both servers must store and answer the same bytes, or the ratios compare different work.
      expect(report.media.map((result) => result.check)).toEqual([
        'both stored the bytes sent', 'both stored the bytes sent', 'both answered the bytes uploaded', 'identical 206 answers', undefined,
      ])
      expect(table).toContain('### Media')

      // One 2-second call per transcode in a smoke run, made by the service's jobs and by ffmpeg run directly.
      expect(report.transcode.map((result) => result.key)).toEqual([
        'transcode-throughput', 'transcode-throughput', 'transcode-wait', 'transcode-wait', 'transcode-p99', 'transcode-p99',
      ])
      for (const result of report.transcode) {
        const where = `${result.label}:\n${bench.output}`
        expect(result.unavailable, where).toBeUndefined()
        expect(result.measured, where).toBeGreaterThan(0)
        expect(result.baseline, where).toBeGreaterThan(0)
        expect(table).toContain(`| **${result.label}** |`)
      }
      // The service must make what ffmpeg makes from the same command line, or the ratios compare different work.
      for (const result of report.transcode.filter((r) => r.key === 'transcode-throughput')) expect(result.check).toMatch(/have the size of the direct output/)
      expect(table).toContain('### Transcoding')

      // A subscription to every event, delivered to a receiver in the bench: 5 ingests in a smoke run.
      expect(report.webhooks.map((result) => result.key)).toEqual(['webhooks-ingest', 'webhooks-ingest-delivering', 'webhooks-delivery'])
      // A DELETE job over 2,000 recordings in a smoke run, run twice (alone, then under the get-one load).
      expect(report.recordingJobs.map((result) => result.key)).toEqual(['jobs-delete', 'jobs-p99'])
      for (const result of [...report.webhooks, ...report.recordingJobs]) {
        const where = `${result.label}:\n${bench.output}`
        expect(result.unavailable, where).toBeUndefined()
        expect(result.measured, where).toBeGreaterThan(0)
        expect(result.baseline, where).toBeGreaterThan(0)
        expect(table).toContain(`| **${result.label}** |`)
      }
      // Every event must arrive, once, or the delivery rate counts something else; every recording must get its date.
      expect(report.webhooks.find((result) => result.key === 'webhooks-delivery')?.check).toMatch(/^every one of the 5 events arrived exactly once/)
      for (const result of report.recordingJobs) expect(result.check).toMatch(/; all 2,000 recordings have deleteDate = actionDate$/)
      expect(table).toContain('### Webhooks')
      expect(table).toContain('### Bulk jobs')
    } finally {
      await rm(out, { recursive: true, force: true })
      await withAdminClient(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`))
    }
  }, 240_000)
})
