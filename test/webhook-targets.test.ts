import { describe, expect, it } from 'vitest'
import { isNonPublic, parseTargetUrl, resolveTarget } from '../src/services/webhook-targets.js'
import { parseRetrySchedule, retryAfterMs } from '../src/services/webhook-delivery.js'

describe('webhook targets', () => {
  it('knows private, loopback, link-local and other non-public addresses, IPv4 and IPv6 (mapped ones too)', () => {
    for (const address of ['10.1.2.3', '127.0.0.1', '169.254.169.254', '172.16.0.1', '192.168.1.1', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1']) {
      expect(isNonPublic(address), address).toBe(true)
    }
    for (const address of ['8.8.8.8', '1.1.1.1', '2001:4860:4860::8888', '::ffff:8.8.8.8']) expect(isNonPublic(address), address).toBe(false)
  })

  it('takes absolute http(s) URLs without credentials only', () => {
    expect(parseTargetUrl('https://hooks.example.com/x').hostname).toBe('hooks.example.com')
    for (const url of ['ftp://example.com/', 'not a url', '/relative', 'https://user:pass@example.com/']) expect(() => parseTargetUrl(url), url).toThrow()
  })

  it('refuses literal and resolved private addresses unless allowed, and answers the address it checked', async () => {
    await expect(resolveTarget('http://127.0.0.1:8080/hook', { allowPrivate: false })).rejects.toThrow(/private, loopback or link-local/)
    await expect(resolveTarget('http://[::1]/hook', { allowPrivate: false })).rejects.toThrow(/private/)
    await expect(resolveTarget('http://localhost/hook', { allowPrivate: false })).rejects.toThrow(/private/)
    await expect(resolveTarget('http://169.254.169.254/latest/meta-data', { allowPrivate: false })).rejects.toThrow(/private/)
    expect(await resolveTarget('http://127.0.0.1:8080/hook', { allowPrivate: true })).toMatchObject({ address: '127.0.0.1', family: 4 })
  })
})

describe('webhook retry timing', () => {
  it('reads the schedule with its units, and Retry-After as seconds or an HTTP date', () => {
    expect(parseRetrySchedule('5s,5m,30m,2h,250ms')).toEqual([5000, 300_000, 1_800_000, 7_200_000, 250])
    expect(retryAfterMs('120')).toBe(120_000)
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000)
    expect(retryAfterMs('soon')).toBeUndefined()
    expect(retryAfterMs(undefined)).toBeUndefined()
  })
})
