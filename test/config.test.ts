import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config.js'

describe('loadConfig', () => {
  it('applies defaults when nothing is set', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({ PORT: 3000, HOST: '127.0.0.1', MIGRATE_ON_START: true, LOG_LEVEL: 'info', DATABASE_POOL_SIZE: 10 })
    expect(config.DATABASE_URL).toBeUndefined()
    expect(config.DATA_DIR).toBe(path.resolve('.data'))
  })

  it('converts text to the declared types and treats empty values as unset', () => {
    const config = loadConfig({ PORT: '8080', MIGRATE_ON_START: 'false', DATABASE_URL: '', LOG_PRETTY: 'true', UNRELATED: 'x' })
    expect(config).toMatchObject({ PORT: 8080, MIGRATE_ON_START: false, LOG_PRETTY: true })
    expect(config.DATABASE_URL).toBeUndefined()
  })

  it('refuses bad values with one message naming each of them', () => {
    const load = () => loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x' })
    expect(load).toThrow(ConfigError)
    expect(load).toThrow(/PORT="eighty"/)
    expect(load).toThrow(/LOG_LEVEL="loud"/)
    expect(load).toThrow(/DATABASE_URL="mysql:\/\/x"/)
  })
})
