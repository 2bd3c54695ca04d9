import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
import { InvalidRequestError } from '../errors.js'

// Webhook targets are URLs a client chose, which this service then calls from inside its network: without a check,
// a subscription could make it reach internal services (SSRF). Private, loopback, link-local and other non-public
// addresses are refused unless allowed, when subscribed and again at each delivery (DNS answers can change), and the
// delivery connects to the address that was checked.

const NON_PUBLIC = new BlockList()
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) NON_PUBLIC.addSubnet(network, prefix, 'ipv4')
// No IPv4-mapped (::ffff:0:0/96) or NAT64 rule: a BlockList checks IPv4 addresses against those too, as mapped ones,
// which would refuse every IPv4 address. Mapped addresses are checked as the IPv4 address they hold (isNonPublic).
for (const [network, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv6')
}

/** Whether an IP address is private, loopback, link-local, multicast or otherwise not on the public internet. */
export function isNonPublic(address: string): boolean {
  const family = isIP(address)
  if (family === 0) return true
  // An IPv4-mapped IPv6 address is its IPv4 address.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
  if (mapped) return NON_PUBLIC.check(mapped, 'ipv4')
  return NON_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

/** Where a delivery connects: the checked address of the target's host. */
export interface ResolvedTarget {
  url: URL
  address: string
  family: 4 | 6
}

const refuse = (message: string) => new InvalidRequestError(message, 'url')

/** The target URL, checked for form: absolute http(s), no credentials. 400 otherwise. */
export function parseTargetUrl(value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw refuse('url must be an absolute http or https URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse('url must be an absolute http or https URL')
  if (url.username || url.password) throw refuse('url must not hold credentials; the signature authenticates deliveries')
  return url
}

/**
 * Resolves the target's host and checks every address it has: any non-public one refuses the target (400), unless
 * `allowPrivate`. A host that does not resolve is refused too. Answers the address to connect to.
 */
export async function resolveTarget(value: string, { allowPrivate }: { allowPrivate: boolean }): Promise<ResolvedTarget> {
  const url = parseTargetUrl(value)
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) as 4 | 6 }] : await lookup(host, { all: true, verbatim: true }).catch(() => {
    throw refuse(`url: the host ${host} does not resolve`)
  })
  const first = addresses[0]
  if (!first) throw refuse(`url: the host ${host} does not resolve`)
  if (!allowPrivate) {
    const blocked = addresses.find(({ address }) => isNonPublic(address))
    if (blocked) {
      throw refuse(`url: ${host} resolves to ${blocked.address}, a private, loopback or link-local address (allowed only with WEBHOOK_ALLOW_PRIVATE_TARGETS=true)`)
    }
  }
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 }
}
