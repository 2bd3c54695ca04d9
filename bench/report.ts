// Figures per endpoint and server, the targets read from them, and the Markdown/JSON report.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT } from './database.js'
import type { Run, ServerName } from './load.js'
import type { MediaResult } from './media.js'
import type { TranscodeResult } from './transcode.js'

export interface Figures {
  /** 2xx answers per second over all rounds. */
  rps: number
  p50: number
  p95: number
  p99: number
  /** Highest RSS sampled during the rounds, in bytes. */
  peakRss?: number
  /** CPU ms of the server process and its database backends per 2xx answer. */
  cpuPerRequest?: number
  /** The part of cpuPerRequest the server process used itself (the rest: PostgreSQL). */
  serverCpuPerRequest?: number
  ok: number
  failed: number
  /** req/s of each round, in order. */
  rounds: number[]
  statusCodes: Record<string, number>
}

export interface EndpointResult {
  key: string
  label: string
  /** What is requested, in words. */
  detail: string
  /** Set when the service cannot be measured on this endpoint (not there yet, or refused the request). */
  unavailable?: string
  /** Outcome of comparing one answer of each server before the timed runs. */
  check?: string
  service?: Figures
  baseline?: Figures
}

/** One figure against a baseline measured in the same run, as the transcoding, webhook and bulk-job rows report it. */
export interface RatioResult {
  key: string
  label: string
  detail: string
  /** Unit of `measured` and `baseline` ('ms' is printed as a latency). */
  unit: string
  /** What the two figures are, in a few words each. */
  names: { measured: string; baseline: string }
  measured?: number
  baseline?: number
  /** measured / baseline should be at least or at most this; none: the ratio is informative. */
  target?: { atLeast: number } | { atMost: number }
  /** Every sample behind the two figures. */
  samples?: { measured: number[]; baseline: number[] }
  /** Outcome of checking that both did the same work, or that the work was done. */
  check?: string
  /** Further figures of the row, in words. */
  note?: string
  /** Set when the service cannot be measured here. */
  unavailable?: string
}

export interface Target {
  target: string
  measured: string
  status: 'met' | 'not met' | 'not measured'
  note?: string
}

export interface Report {
  startedAt: string
  seconds: number
  smoke: boolean
  settings: { size: number; connections: number; duration: number; rounds: number; warmup: number; poolSize: number }
  machine: Record<string, string>
  dataset: { seeded: string; rows: Record<string, number>; conversations: number; mainOrganization: number; queries: { q: string; hits: number }[] }
  endpoints: EndpointResult[]
  targets: Target[]
  /** Media endpoints, figures in their own units (MB/s, req/s, MB). */
  media: MediaResult[]
  /** Transcoding: each figure against a baseline measured in the same run. */
  transcode: TranscodeResult[]
  /** Webhooks: ingest with a subscription against none, and the delivery rate against the ingest rate. */
  webhooks: RatioResult[]
  /** Bulk recording jobs: a DELETE job's rate, and get-one p99 while it runs against idle. */
  recordingJobs: RatioResult[]
  memory: Partial<Record<ServerName, number>>
  notes: string[]
}

const percentile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN

export function figures(runs: Run[]): Figures {
  const latencies = runs.flatMap((run) => run.latencies).sort((a, b) => a - b)
  const ok = runs.reduce((sum, run) => sum + run.ok, 0)
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0)
  const statusCodes: Record<string, number> = {}
  for (const run of runs) for (const [code, count] of Object.entries(run.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + count
  const peaks = runs.flatMap((run) => (run.peakRss === undefined ? [] : [run.peakRss]))
  const cpu = runs.every((run) => run.cpuMs !== undefined) ? runs.reduce((sum, run) => sum + (run.cpuMs ?? 0), 0) : undefined
  const own = runs.every((run) => run.serverCpuMs !== undefined) ? runs.reduce((sum, run) => sum + (run.serverCpuMs ?? 0), 0) : undefined
  return {
    rps: seconds > 0 ? ok / seconds : 0,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    ...(peaks.length > 0 ? { peakRss: Math.max(...peaks) } : {}),
    ...(cpu !== undefined && ok > 0 ? { cpuPerRequest: cpu / ok } : {}),
    ...(own !== undefined && ok > 0 ? { serverCpuPerRequest: own / ok } : {}),
    ok,
    failed: runs.reduce((sum, run) => sum + run.failed, 0),
    rounds: runs.map((run) => (run.seconds > 0 ? run.ok / run.seconds : 0)),
    statusCodes,
  }
}

/** A count, with thousands separators. */
export const int = (n: number) => Math.round(n).toLocaleString('en-US')
/** A duration in ms, as seconds. */
export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const ms = (n: number) => (Number.isFinite(n) ? `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms` : '–')
const mb = (bytes: number | undefined) => (bytes === undefined ? '–' : `${Math.round(bytes / 2 ** 20)} MB`)
const times = (n: number) => `${n.toFixed(2)}×`

function ratio(endpoint: EndpointResult | undefined): number | undefined {
  const { service, baseline } = endpoint ?? {}
  return service && baseline && baseline.rps > 0 ? service.rps / baseline.rps : undefined
}

/** The same comparison by CPU cost: the baseline's CPU per request over the service's (below 1: the service costs more). */
function cpuRatio(endpoint: EndpointResult | undefined): number | undefined {
  const service = endpoint?.service?.cpuPerRequest
  const baseline = endpoint?.baseline?.cpuPerRequest
  return service && baseline ? baseline / service : undefined
}

/** The targets of the issue, read from the figures (never asserted: a benchmark informs, it does not fail). */
export function targets(endpoints: EndpointResult[], settings: Report['settings'], memory: Report['memory']): Target[] {
  const byKey = (key: string) => endpoints.find((endpoint) => endpoint.key === key)
  const list: Target[] = []
  const against = (key: string, label: string, minimum: number) => {
    const value = ratio(byKey(key))
    const cpu = cpuRatio(byKey(key))
    list.push(value === undefined
      ? { target: `${label} ≥ ${minimum}× baseline req/s`, measured: '–', status: 'not measured', note: byKey(key)?.unavailable }
      : {
          target: `${label} ≥ ${minimum}× baseline req/s`,
          measured: `${times(value)}${cpu === undefined ? '' : ` (by CPU per request: ${times(cpu)})`}`,
          status: value >= minimum ? 'met' : 'not met',
        })
  }
  against('get', 'get one', 0.8)
  against('list', 'list by conversation', 0.8)
  against('ingest', 'ingest with children', 0.6)

  const first = byKey('first')?.service
  const deep = byKey('deep')
  if (first && deep?.service) {
    const value = deep.service.p50 / first.p50
    list.push({ target: `${deep.label}: p50 ≤ 1.2× first page p50 (service)`, measured: `${ms(deep.service.p50)} vs ${ms(first.p50)} = ${times(value)}`, status: value <= 1.2 ? 'met' : 'not met' })
  } else {
    list.push({ target: 'page after 10,000 rows: p50 ≤ 1.2× first page p50 (service)', measured: '–', status: 'not measured', note: deep?.unavailable ?? byKey('first')?.unavailable })
  }

  // Read at one connection: under 50 connections a saturated server's latency is connections / throughput.
  const search = byKey('search-single')
  const loaded = byKey('search')?.service
  const atDefault = settings.size === 200_000
  if (search?.service) {
    list.push({
      target: 'full-text search: p95 < 50 ms at 200,000 recordings (service, 1 connection)',
      measured: `${ms(search.service.p95)}${loaded ? ` (${ms(loaded.p95)} under ${settings.connections} connections)` : ''}`,
      status: search.service.p95 < 50 ? 'met' : 'not met',
      ...(atDefault ? {} : { note: `measured at ${int(settings.size)} recordings: indicative only` }),
    })
  } else {
    list.push({ target: 'full-text search: p95 < 50 ms at 200,000 recordings (service, 1 connection)', measured: '–', status: 'not measured', note: search?.unavailable })
  }

  const rss = memory.service
  list.push(rss === undefined
    ? { target: 'service RSS < 250 MB under 50 connections', measured: '–', status: 'not measured', note: 'no /proc on this system' }
    : {
        target: 'service RSS < 250 MB under 50 connections',
        measured: `${mb(rss)} (peak over the endpoints above)`,
        status: rss < 250 * 2 ** 20 ? 'met' : 'not met',
        ...(settings.connections === 50 ? {} : { note: `measured with ${settings.connections} connections: indicative only` }),
      })
  return list
}

/** The commit the service is built from, and whether src/ or prisma/ differ from it (read when the run starts). */
export function commit(): string {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return ''
    }
  }
  const head = git('rev-parse', '--short', 'HEAD')
  const dirty = git('status', '--porcelain', '--', 'src', 'prisma').length > 0
  return head ? `${head}${dirty ? ' with uncommitted changes in src/ or prisma/' : ''}` : 'unknown'
}

export function machine(serverVersion: string, commit: string, loadBefore: number[], loadDuring: number[]): Record<string, string> {
  const cpus = os.cpus()
  const version = (name: string) => {
    try {
      return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
    } catch {
      return '?'
    }
  }
  return {
    cpu: `${cpus[0]?.model.trim() ?? 'unknown'}, ${cpus.length} cores`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    os: `${os.type()} ${os.release()} (${os.arch()})`,
    node: process.version,
    postgres: serverVersion,
    autocannon: version('autocannon'),
    commit,
    load:
      `${loadBefore.map((n) => n.toFixed(2)).join(', ')} before the run (1, 5, 15 min averages)` +
      (loadDuring.length > 0 ? `, ${Math.min(...loadDuring).toFixed(1)}–${Math.max(...loadDuring).toFixed(1)} after each timed round (1 min)` : '') +
      '; other work running meanwhile skews req/s (CPU per request much less)',
  }
}

function endpointSection(report: Report): string[] {
  const { settings } = report
  const lines: string[] = []
  lines.push(
    `${int(settings.size)} recordings, ${settings.connections} connections (1 where the row says so), ${settings.rounds} round${settings.rounds === 1 ? '' : 's'} × ` +
      `${settings.duration} s per endpoint and server after ${settings.warmup} s of warm-up, the two servers alternating ` +
      `(the first of each round alternates too); autocannon over 127.0.0.1. "vs baseline" is the service's req/s over ` +
      `the baseline's, measured in the same run; in brackets the same comparison by CPU per request.`,
    '',
  )
  lines.push('| endpoint | server | req/s | p50 | p95 | p99 | CPU per request | of which Node + PostgreSQL | peak RSS | vs baseline: req/s (CPU) | req/s per round |')
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|')
  for (const endpoint of report.endpoints) {
    for (const name of ['service', 'baseline'] as const) {
      const f = endpoint[name]
      const label = name === 'service' ? `**${endpoint.label}**` : ''
      if (!f) {
        lines.push(`| ${label} | ${name} | not available${name === 'service' && endpoint.unavailable ? `: ${endpoint.unavailable}` : ''} | | | | | | | | |`)
        continue
      }
      const byRps = ratio(endpoint)
      const byCpu = cpuRatio(endpoint)
      const versus = name === 'baseline' ? '1.00' : `${byRps === undefined ? '–' : times(byRps)}${byCpu === undefined ? '' : ` (${times(byCpu)})`}`
      const failed = f.failed > 0 ? ` (${int(f.failed)} failed)` : ''
      const cpu = f.cpuPerRequest === undefined ? '–' : ms(f.cpuPerRequest)
      const split = f.cpuPerRequest === undefined || f.serverCpuPerRequest === undefined ? '–' : `${ms(f.serverCpuPerRequest)} + ${ms(f.cpuPerRequest - f.serverCpuPerRequest)}`
      lines.push(`| ${label} | ${name} | ${int(f.rps)}${failed} | ${ms(f.p50)} | ${ms(f.p95)} | ${ms(f.p99)} | ${cpu} | ${split} | ${mb(f.peakRss)} | ${versus} | ${f.rounds.map(int).join(' · ')} |`)
    }
  }
  lines.push('', '### Targets', '', '| target | measured | status |', '|---|---|---|')
  for (const t of report.targets) lines.push(`| ${t.target} | ${t.measured}${t.note ? ` (${t.note})` : ''} | ${t.status === 'met' ? 'met' : `**${t.status}**`} |`)

  lines.push('', '### What was requested', '')
  for (const endpoint of report.endpoints) lines.push(`- **${endpoint.label}**: ${endpoint.detail}${endpoint.check ? ` Answers compared before timing: ${endpoint.check}.` : ''}`)
  return lines
}

function mediaSection(results: MediaResult[], settings: Report['settings']): string[] {
  const lines = [
    '### Media',
    '',
    `${settings.rounds} round${settings.rounds === 1 ? '' : 's'} × ${settings.duration} s per row and server after ${settings.warmup} s of warm-up, the two ` +
      'servers alternating, against bench/media-baseline.ts on the same disk: service over baseline (for memory, lower is better).',
    '',
    '| endpoint | service | baseline | service / baseline | target | per round: service / baseline | CPU per MB or request: service / baseline |',
    '|---|---:|---:|---:|---|---|---|',
  ]
  const figure = (value: number | undefined, unit: string) => (value === undefined ? '–' : `${value < 100 ? value.toFixed(1) : int(value)} ${unit}`)
  for (const result of results) {
    const { service, baseline } = result
    if (service === undefined || baseline === undefined) {
      lines.push(`| **${result.label}** | not available${result.unavailable ? `: ${result.unavailable}` : ''} | | | | | |`)
      continue
    }
    const ratio = baseline > 0 ? service / baseline : undefined
    const met = 'minimum' in result.target ? ratio !== undefined && ratio >= result.target.minimum : service < result.target.maximum
    const target = 'minimum' in result.target ? `≥ ${result.target.minimum}×` : `service < ${result.target.maximum} MB`
    const failed = (name: ServerName) => (result.failed?.[name] ? ` (${int(result.failed[name])} failed)` : '')
    const rounds = result.rounds ? `${result.rounds.service.map((n) => n.toFixed(1)).join(' · ')} / ${result.rounds.baseline.map((n) => n.toFixed(1)).join(' · ')}` : ''
    const cpu = result.cpu ? `${ms(result.cpu.service)} / ${ms(result.cpu.baseline)}` : '–'
    lines.push(
      `| **${result.label}** | ${figure(service, result.unit)}${failed('service')} | ${figure(baseline, result.unit)}${failed('baseline')} | ` +
        `${ratio === undefined ? '–' : times(ratio)} | ${target}: ${met ? 'met' : '**not met**'} | ${rounds} | ${cpu} |`,
    )
  }
  lines.push('')
  for (const result of results) lines.push(`- **${result.label}**: ${result.detail}${result.check ? ` Checked before timing: ${result.check}.` : ''}`)
  return lines
}

/** A table of rows that each hold a figure, its same-run baseline, their ratio and the target it is read against. */
function ratioSection(title: string, intro: string, results: RatioResult[]): string[] {
  const lines = [title, '', intro, '', '| row | measured | baseline (same run) | measured / baseline | target | details |', '|---|---:|---:|---:|---|---|']
  const figure = (value: number, unit: string) => (unit === 'ms' ? ms(value) : `${value < 100 ? value.toFixed(1) : int(value)} ${unit}`)
  for (const result of results) {
    const { measured, baseline } = result
    if (measured === undefined || baseline === undefined) {
      lines.push(`| **${result.label}** | not available${result.unavailable ? `: ${result.unavailable}` : ''} | | | | |`)
      continue
    }
    const ratio = baseline > 0 ? measured / baseline : undefined
    let target = '–'
    if (result.target) {
      const met = ratio !== undefined && ('atLeast' in result.target ? ratio >= result.target.atLeast : ratio <= result.target.atMost)
      target = `${'atLeast' in result.target ? `≥ ${result.target.atLeast}×` : `≤ ${result.target.atMost}×`}: ${met ? 'met' : '**not met**'}`
    }
    lines.push(
      `| **${result.label}** | ${result.names.measured}: ${figure(measured, result.unit)} | ${result.names.baseline}: ${figure(baseline, result.unit)} | ` +
        `${ratio === undefined ? '–' : times(ratio)} | ${target} | ${result.note ?? ''} |`,
    )
  }
  lines.push('')
  for (const result of results) lines.push(`- **${result.label}**: ${result.detail}${result.check ? ` Checked: ${result.check}.` : ''}`)
  return lines
}

const transcodeSection = (results: TranscodeResult[]) => ratioSection(
  '### Transcoding',
  'Renditions made on request (GET …?formatId=: 202, made by ffmpeg in a job, then 200), each figure against a baseline ' +
    'measured in the same run: ffmpeg run directly from the bench with the same command line, binary and file, or the ' +
    'same load on the idle service.',
  results,
)

const webhookSection = (results: RatioResult[]) => ratioSection(
  '### Webhooks',
  'One enabled subscription to every event (`*`) whose target is a node:http receiver in the bench answering 204 (the ' +
    'service runs with WEBHOOK_ALLOW_PRIVATE_TARGETS=true), each figure against a baseline measured in the same run: ' +
    'the same load with no subscription, or the rate at which the same requests wrote the events.',
  results,
)

const recordingJobSection = (results: RatioResult[]) => ratioSection(
  '### Bulk jobs',
  'Recording jobs (POST /api/v2/recording/jobs: PENDING, READY; PUT {"state": "PROCESSING"}: FULFILLED), each figure ' +
    'against a baseline measured in the same run: the same row updates made directly in SQL from the bench, or the same ' +
    'load on the idle service.',
  results,
)

export function markdown(report: Report): string {
  const { settings, dataset } = report
  const when = report.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')
  const lines: string[] = []
  lines.push(`## recording-store benchmark, ${when}${report.smoke ? ' (smoke run: figures mean nothing)' : ''}`, '')
  if (report.endpoints.length > 0) lines.push(...endpointSection(report), '')
  if (report.media.length > 0) lines.push(...mediaSection(report.media, settings), '')
  if (report.transcode.length > 0) lines.push(...transcodeSection(report.transcode), '')
  if (report.webhooks.length > 0) lines.push(...webhookSection(report.webhooks), '')
  if (report.recordingJobs.length > 0) lines.push(...recordingJobSection(report.recordingJobs), '')

  const rows = dataset.rows
  lines.push('### Machine and data', '')
  for (const [key, value] of Object.entries(report.machine)) lines.push(`- ${key}: ${value}`)
  lines.push(
    `- dataset: ${int(rows.recordings ?? 0)} recordings in ${int(dataset.conversations)} conversations (${int(dataset.mainOrganization)} in the measured ` +
      `organization, the rest in a second one), ${int(rows.annotations ?? 0)} annotations, ${int(rows.chat_messages ?? 0)} chat, ` +
      `${int(rows.messaging_messages ?? 0)} messaging and ${int(rows.email_messages ?? 0)} e-mail messages, ${int(rows.recording_users ?? 0)} ` +
      `recording users, ${int(rows.media_results ?? 0)} media links; ${dataset.seeded}`,
    `- full-text queries (share of the organization's recordings that match): ${dataset.queries.map((query) => `\`${query.q}\` ${((query.hits / Math.max(1, dataset.mainOrganization)) * 100).toFixed(1)}%`).join(', ')}`,
    ...(report.endpoints.length > 0 ? [`- memory high-water mark over the endpoints of the first table: service ${mb(report.memory.service)}, baseline ${mb(report.memory.baseline)}`] : []),
    `- database pool: ${settings.poolSize} connections in each server; the run took ${Math.round(report.seconds)} s`,
  )
  lines.push('', '### Notes', '')
  for (const note of report.notes) lines.push(`- ${note}`)
  return `${lines.join('\n')}\n`
}
