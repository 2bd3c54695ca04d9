import { chromium, type Browser, type Page } from 'playwright-core'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Recording } from '../src/schemas/recording.js'
import { createTestDatabase } from './database.js'
import { wav } from './media.js'
import { BOOTSTRAP, killLeftovers, scratchDir, startService, tokenFrom, type Service } from './processes.js'

/**
 * Renditions played by a real browser: Debian's Chromium (headless, driven by playwright-core) loads each signed
 * mediaUri into an <audio> element of a page on another origin, as a CRM page embeds a player, and plays it.
 * .ci/run installs the chromium package; without it this suite is skipped, not failed.
 */

const CHROMIUM = '/usr/bin/chromium'
const SECONDS = 3

/**
 * Each format as the service serves it (`served`, the Content-Type), and with its codec (`asked`) as a player that
 * knows the format would ask canPlayType; `advertised` is Chromium's answer to that. WAV is PCM (WAVE format tag 1)
 * and WAV_ULAW G.711 μ-law (tag 7), both served as audio/wav: Chromium answers '' for codecs="7" (its list of WAV
 * codecs names PCM only), yet loads and plays μ-law WAV, which its WAV demuxer decodes.
 */
const FORMATS = [
  { formatId: 'MP3', served: 'audio/mpeg', asked: 'audio/mpeg', advertised: 'probably' },
  { formatId: 'OGG_VORBIS', served: 'audio/ogg', asked: 'audio/ogg; codecs="vorbis"', advertised: 'probably' },
  { formatId: 'OGG_OPUS', served: 'audio/ogg', asked: 'audio/ogg; codecs="opus"', advertised: 'probably' },
  { formatId: 'WEBM', served: 'audio/webm', asked: 'audio/webm; codecs="opus"', advertised: 'probably' },
  { formatId: 'WAV', served: 'audio/wav', asked: 'audio/wav; codecs="1"', advertised: 'probably' },
  { formatId: 'WAV_ULAW', served: 'audio/wav', asked: 'audio/wav; codecs="7"', advertised: '' },
] as const

/** What the page saw of one <audio> element. */
interface Played {
  /** canPlayType of the served Content-Type, and of the type with its codec. */
  canPlayServed: string
  canPlayAsked: string
  /** `loadedmetadata`, or `error <MediaError code>`, or `timeout`. */
  loaded: string
  duration: number
  /** currentTime once it passed 0.2 s, or where it stood when the wait gave up. */
  currentTime: number
  /** play()'s rejection, and every `error` event of the element. */
  errors: string[]
}

/**
 * The little of the page's DOM used here, typed by hand: the tree is type-checked without the DOM library, which would
 * declare browser globals for every Node module too.
 */
interface AudioElement {
  canPlayType(type: string): string
  muted: boolean
  preload: string
  src: string
  readonly duration: number
  readonly currentTime: number
  readonly error: { code: number; message: string } | null
  addEventListener(event: 'loadedmetadata' | 'error', listener: () => void, options?: { once: boolean }): void
  play(): Promise<void>
  pause(): void
  remove(): void
}
interface PageGlobals {
  document: { createElement(tag: 'audio'): AudioElement; body: { append(element: AudioElement): void } }
}

/** In the page: an <audio> with `src`, muted (so autoplay rules let play() start), loaded, then played past 0.2 s. */
function playInPage(page: Page, src: string, served: string, asked: string): Promise<Played> {
  return page.evaluate(
    async ({ src, served, asked }) => {
      const { document } = globalThis as unknown as PageGlobals
      const audio = document.createElement('audio')
      document.body.append(audio)
      const errors: string[] = []
      audio.addEventListener('error', () => errors.push(`error ${audio.error?.code ?? '?'}: ${audio.error?.message ?? ''}`))
      const canPlayServed = audio.canPlayType(served)
      const canPlayAsked = audio.canPlayType(asked)
      audio.muted = true
      audio.preload = 'auto'
      const loaded = await new Promise<string>((resolve) => {
        audio.addEventListener('loadedmetadata', () => resolve('loadedmetadata'), { once: true })
        audio.addEventListener('error', () => resolve(`error ${audio.error?.code ?? '?'}`), { once: true })
        setTimeout(() => resolve('timeout'), 10_000)
        audio.src = src
      })
      const duration = audio.duration
      if (loaded === 'loadedmetadata') {
        await audio.play().catch((error: unknown) => errors.push(`play(): ${String(error)}`))
        const deadline = Date.now() + 10_000
        while (errors.length === 0 && audio.currentTime <= 0.2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
        audio.pause()
      }
      audio.remove()
      return { canPlayServed, canPlayAsked, loaded, duration, currentTime: audio.currentTime, errors }
    },
    { src, served, asked },
  )
}

describe.skipIf(!existsSync(CHROMIUM))(`renditions play in Chromium (skipped when ${CHROMIUM} is missing: apt-get install chromium)`, () => {
  let service: Service
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  let token: string
  let browser: Browser
  let page: Page
  /** Serves the player page: another origin than the service's (another port), as a CRM page would be. */
  let pageServer: Server
  const conversationId = randomUUID()
  let recordingId: string

  beforeAll(async () => {
    scratch = await scratchDir('browser-playback')
    service = await startService({
      ...BOOTSTRAP,
      DATABASE_URL: await createTestDatabase(inject('testDatabase')),
      MIGRATE_ON_START: 'false',
      DATA_DIR: scratch.dir,
      RATE_LIMIT_PER_MINUTE: '100000',
    })
    token = await tokenFrom(service.baseUrl)
    const recordings = `${service.baseUrl}/api/v2/conversations/${conversationId}/recordings`
    const headers = { authorization: `Bearer ${token}` }
    const created = await fetch(recordings, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'call', media: 'audio' }) })
    expect(created.status).toBe(201)
    recordingId = ((await created.json()) as Recording).id as string
    const uploaded = await fetch(`${recordings}/${recordingId}/media`, { method: 'PUT', headers: { ...headers, 'content-type': 'audio/wav' }, body: wav(SECONDS) })
    expect(uploaded.status).toBe(200)

    pageServer = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>player</title><body></body>'))
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve))
    const { port } = pageServer.address() as { port: number }

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // No sandbox: the tests run as root. The rest keeps Chromium off the network and its update machinery.
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    page = await browser.newPage()
    // localhost, not 127.0.0.1: a different origin from the service's even on the same host.
    await page.goto(`http://localhost:${port}/`)
  })
  afterAll(async () => {
    await browser?.close()
    await new Promise((resolve) => pageServer?.close(resolve))
    if (service) {
      service.process.kill('SIGTERM')
      await service.exited
    }
    killLeftovers()
    await scratch?.remove()
  })

  /** The signed mediaUri of `formatId`, once the service has made it (202 until then). */
  async function mediaUri(formatId: string): Promise<string> {
    const url = `${service.baseUrl}/api/v2/conversations/${conversationId}/recordings/${recordingId}?formatId=${formatId}`
    const deadline = Date.now() + 25_000
    for (;;) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
      if (res.status === 200) {
        const uri = ((await res.json()) as Recording).mediaUris?.S?.mediaUri
        expect(uri).toEqual(expect.any(String))
        return uri ?? ''
      }
      expect(res.status).toBe(202)
      if (Date.now() > deadline) throw new Error(`${formatId} still 202 after 25 s`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  it.each(FORMATS)(
    '$formatId (served as $served): canPlayType($asked) is $advertised; it loads (duration 3 s ±0.1) and plays',
    async ({ formatId, served, asked, advertised }) => {
      const uri = await mediaUri(formatId)
      const head = await fetch(uri, { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(head.headers.get('content-type')).toBe(served)

      const played = await playInPage(page, uri, served, asked)
      expect(played.canPlayAsked).toBe(advertised)
      if (played.canPlayServed === '') {
        // A type Chromium refuses outright: the element must fail cleanly (MEDIA_ERR_SRC_NOT_SUPPORTED), not hang.
        expect(played.loaded).toBe('error 4')
        return
      }
      expect(played).toMatchObject({ loaded: 'loadedmetadata', errors: [] })
      expect(Math.abs(played.duration - SECONDS)).toBeLessThanOrEqual(0.1)
      expect(played.currentTime).toBeGreaterThan(0.2)
    },
  )
})
