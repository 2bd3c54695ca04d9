import platformClient from 'purecloud-platform-client-v2'
import { ALL_PERMISSIONS } from '../src/auth/permissions.js'
import { createTestContext, type TestContext } from './helpers.js'

export interface SdkSuite {
  ctx: TestContext
  baseUrl: string
  /** The bearer token the SDK logged in with, for the store's own routes (ingest, upload) the SDK has no method for. */
  token: string
  /** Logs the SDK out, points it nowhere, and closes the service. */
  close(): Promise<void>
}

/**
 * A service listening on loopback, with the SDK's ApiClient (a process-wide singleton) pointed at it and logged in,
 * as any SDK application logs in, as a new client with every permission in `organization`. `env` adds to the
 * service's settings (an export target, a batch size).
 */
export async function startSdkSuite(organization: string, name: string, env: Record<string, string> = {}): Promise<SdkSuite> {
  const client = platformClient.ApiClient.instance
  const ctx = await createTestContext({ PORT: '0', ...env })
  const baseUrl = await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  client.setGateway({ host: '127.0.0.1', protocol: 'http', port: Number(new URL(baseUrl).port) })
  const credentials = await ctx.app.services.clients.create({ organization, name, permissions: [...ALL_PERMISSIONS] })
  const { accessToken } = await client.loginClientCredentialsGrant(credentials.clientId, credentials.clientSecret)
  return {
    ctx,
    baseUrl,
    token: accessToken,
    async close() {
      client.setAccessToken('')
      client.setGateway({ host: '' })
      await ctx.close()
    },
  }
}
