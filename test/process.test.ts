import { spawn } from 'node:child_process'
import pg from 'pg'
import { readFile, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import path from 'node:path'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { PROJECT_ROOT } from '../src/db/migrations.js'
import { createTestDatabase, databaseUrl, withAdminClient } from './database.js'
import { alive, BOOTSTRAP, CLI, freePort, killLeftovers, run, scratchDir, SERVER, startService, takenPort, tokenFrom } from './processes.js'

afterAll(killLeftovers)

const migratedDatabase = () => createTestDatabase(inject('testDatabase'))

describe('a failed start or command exits non-zero', () => {
  it('exits 1 when the HTTP port is taken, without lingering', async () => {
    const taken = await takenPort()
    try {
      const result = await run(process.execPath, [SERVER], { DATABASE_URL: await migratedDatabase(), MIGRATE_ON_START: 'false', PORT: String(taken.port) })
      const exitedAt = Date.now()
      expect(result.stdout).toMatch(/EADDRINUSE[\s\S]*start-up failed/)
      expect(result.code).toBe(1)
      // Its database pool is closed, not left to time out (10 s).
      const failed = result.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg: string; time: number }).find((l) => l.msg === 'start-up failed')
      expect(exitedAt - (failed?.time ?? 0)).toBeLessThan(3_000)
    } finally {
      await taken.release()
    }
  })

  it('exits 1 when the embedded PostgreSQL cannot start: its port taken, or DATA_DIR unusable', async () => {
    const scratch = await scratchDir('no-start')
    const taken = await takenPort()
    try {
      const portTaken = await run(process.execPath, [SERVER], { DATA_DIR: scratch.dir, EMBEDDED_POSTGRES_PORT: String(taken.port), PORT: '0' })
      expect(portTaken.stdout).toMatch(/embedded PostgreSQL did not start/)
      expect(portTaken.code).toBe(1)

      const file = path.join(scratch.dir, 'a-file')
      await writeFile(file, '')
      const unusable = await run(process.execPath, [SERVER], { DATA_DIR: path.join(file, 'data'), EMBEDDED_POSTGRES_PORT: String(await freePort()), PORT: '0' })
      expect(unusable.stdout).toMatch(/ENOTDIR[\s\S]*start-up failed/)
      expect(unusable.code).toBe(1)
    } finally {
      await taken.release()
      await scratch.remove()
    }
  }, 60_000)

  it('npm run clients -- list exits 1 when its database cannot be reached (DATABASE_URL, or the embedded one)', async () => {
    const unreachable = await run('npm', ['run', '-s', 'clients', '--', 'list'], { DATABASE_URL: `postgresql://postgres@127.0.0.1:${await freePort()}/nothing` })
    expect(unreachable).toMatchObject({ code: 1, stdout: '' })
    expect(unreachable.stderr).toMatch(/clients list failed: [\s\S]*Can't reach database server/)

    const scratch = await scratchDir('cli-no-start')
    const taken = await takenPort()
    try {
      const embedded = await run('npm', ['run', '-s', 'clients', '--', 'list'], { DATA_DIR: scratch.dir, EMBEDDED_POSTGRES_PORT: String(taken.port) })
      expect(embedded).toMatchObject({ code: 1, stdout: '' })
      expect(embedded.stderr).toMatch(/clients list failed: embedded PostgreSQL did not start/)
      const direct = await run(process.execPath, [CLI, 'list'], { DATA_DIR: scratch.dir, EMBEDDED_POSTGRES_PORT: String(taken.port) })
      expect(direct.code).toBe(1)
    } finally {
      await taken.release()
      await scratch.remove()
    }
  }, 120_000)
})

describe('SIGTERM', () => {
  it('sent to the npm start process alone, stops the service and its embedded PostgreSQL', async () => {
    const scratch = await scratchDir('npm-start')
    try {
      const npm = await startService({ DATA_DIR: scratch.dir, EMBEDDED_POSTGRES_PORT: String(await freePort()), ...BOOTSTRAP }, ['npm', 'start'])
      const nodePid = Number(npm.logs.find((l) => l.msg === 'recording-store ready')?.pid)
      const postgresPid = Number((await readFile(path.join(scratch.dir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0])
      expect(nodePid).not.toBe(npm.process.pid)
      expect(alive(postgresPid)).toBe(true)

      const signalled = performance.now()
      npm.process.kill('SIGTERM')
      const exit = await npm.exited
      const ms = Math.round(performance.now() - signalled)
      console.log(`npm start after SIGTERM to npm only: exited with ${exit.code ?? exit.signal} in ${ms} ms`)
      expect(exit).toEqual({ code: 0, signal: null })
      expect(ms).toBeLessThan(10_000)
      expect(alive(nodePid)).toBe(false)
      expect(alive(postgresPid)).toBe(false)
      expect(npm.logs.some((l) => l.msg === 'embedded PostgreSQL stopped')).toBe(true)
    } finally {
      await scratch.remove()
    }
  }, 180_000)

  it('Ctrl-C under npm start (SIGINT to the whole process group, then again from npm) is one graceful stop', async () => {
    const scratch = await scratchDir('npm-ctrl-c')
    try {
      const npm = await startService({ DATA_DIR: scratch.dir, EMBEDDED_POSTGRES_PORT: String(await freePort()), ...BOOTSTRAP }, ['npm', 'start'], { detached: true })
      const postgresPid = Number((await readFile(path.join(scratch.dir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0])
      process.kill(-(npm.process.pid as number), 'SIGINT')
      expect(await npm.exited).toEqual({ code: 0, signal: null })
      expect(npm.logs.filter((l) => l.msg === 'shutting down')).toEqual([expect.objectContaining({ signal: 'SIGINT' })])
      expect(npm.logs.some((l) => String(l.msg).startsWith('second signal'))).toBe(false)
      expect(npm.logs.some((l) => l.msg === 'embedded PostgreSQL stopped')).toBe(true)
      expect(alive(postgresPid)).toBe(false)
    } finally {
      await scratch.remove()
    }
  }, 180_000)

  it('during start-up, once the embedded PostgreSQL runs, stops it and exits 0 instead of leaving it orphaned', async () => {
    const scratch = await scratchDir('start-sigterm')
    const child = spawn(process.execPath, [SERVER], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: scratch.dir, EMBEDDED_POSTGRES_PORT: String(await freePort()), PORT: '0', LOG_PRETTY: 'false' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    try {
      const messages: string[] = []
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          for (const line of chunk.toString().split('\n').filter((l) => l.startsWith('{'))) {
            const { msg } = JSON.parse(line) as { msg: string }
            messages.push(msg)
            if (msg === 'embedded PostgreSQL started') resolve()
          }
        })
        void exited.then(() => reject(new Error(`exited before the database started: ${messages.join(' | ')}`)))
      })
      const postgresPid = Number((await readFile(path.join(scratch.dir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0])
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
      expect(messages).toContain('stopped during start-up')
      expect(messages).not.toContain('recording-store ready')
      expect(alive(postgresPid)).toBe(false)
    } finally {
      child.kill('SIGKILL')
      await scratch.remove()
    }
  }, 120_000)

  it('a request arriving after it, while an in-flight request keeps the server draining, gets 503 with Retry-After, Connection: close and the error body', async () => {
    const service = await startService({ DATABASE_URL: await migratedDatabase(), MIGRATE_ON_START: 'false', ...BOOTSTRAP })
    const token = await tokenFrom(service.baseUrl)
    const socket = connect(Number(new URL(service.baseUrl).port), '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    let answers = ''
    socket.on('data', (chunk: Buffer) => (answers += chunk.toString()))
    const closed = new Promise((resolve) => socket.once('close', resolve))

    // The first request is half sent when SIGTERM arrives; the second follows on the same connection after it.
    const payload = JSON.stringify({ name: 'draining', media: 'chat', transcript: [{ body: 'hello', id: 'm1' }] })
    socket.write(`POST /api/v2/conversations/c-drain/recordings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${payload.length}\r\n\r\n${payload.slice(0, 10)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    service.process.kill('SIGTERM')
    await new Promise((resolve) => setTimeout(resolve, 300))
    socket.write(`${payload.slice(10)}GET /api/v2/conversations/c-drain/recordings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`)
    await closed

    const [first, second] = answers.split(/(?=HTTP\/1\.1 )/)
    expect(first).toMatch(/^HTTP\/1\.1 201 /)
    const [head = '', body = ''] = (second ?? '').split('\r\n\r\n')
    expect(head).toMatch(/^HTTP\/1\.1 503 /)
    expect(head).toMatch(/\r\nretry-after: 5\r\n/i)
    expect(head).toMatch(/\r\nconnection: close\r\n/i)
    expect(head).toMatch(/\r\ncontent-type: application\/problem\+json/i)
    expect(JSON.parse(body)).toMatchObject({ status: 503, code: 'service.shutting.down', message: expect.stringContaining('shutting down') })
    expect(await service.exited).toEqual({ code: 0, signal: null })
  })
})

describe('npm run db:deploy', () => {
  it('applies the migrations and installs the job queue on an empty database, after which a service that does not migrate is ready', async () => {
    const { serverUrl, prefix } = inject('testDatabase')
    const name = `${prefix}deploy`
    await withAdminClient(serverUrl, (client) => client.query(`CREATE DATABASE "${name}"`))
    const url = databaseUrl(serverUrl, name)
    const deployed = await run('npm', ['run', 'db:deploy'], { DATABASE_URL: url })
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0)
    // Before any service ran: the job queue is there, so deletes can queue the removal of bytes at once.
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    const installed = await client.query<{ jobs: string | null }>("SELECT to_regclass('graphile_worker.jobs')::text AS jobs").finally(() => client.end())
    expect(installed.rows[0]?.jobs).toBe('graphile_worker.jobs')
    const service = await startService({ DATABASE_URL: url, MIGRATE_ON_START: 'false', ...BOOTSTRAP })
    try {
      const ready = await fetch(`${service.baseUrl}/health/ready`)
      expect(ready.status, await ready.clone().text()).toBe(200)
      expect(await ready.json()).toMatchObject({ pendingMigrations: [] })
    } finally {
      service.process.kill('SIGTERM')
      await service.exited
    }
  }, 120_000)
})

describe('an empty DATABASE_URL counts as unset', () => {
  it('prisma generate works offline with DATABASE_URL= (the build npm start runs on a fresh machine)', async () => {
    const scratch = await scratchDir('generate')
    try {
      // The project's prisma.config.ts and schema, generating into a scratch directory so the project's client is untouched.
      const schema = (await readFile(path.join(PROJECT_ROOT, 'prisma', 'schema.prisma'), 'utf8')).replace(/output\s*=\s*"[^"]*"/, 'output = "./generated"')
      await writeFile(path.join(scratch.dir, 'schema.prisma'), schema)
      const prisma = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'prisma')
      const result = await run(prisma, ['generate', '--schema', path.join(scratch.dir, 'schema.prisma')], { DATABASE_URL: '' })
      expect(result.stdout + result.stderr).toMatch(/Generated Prisma Client/)
      expect(result.stdout + result.stderr).not.toMatch(/binaries\.prisma\.sh/)
      expect(result.code).toBe(0)
    } finally {
      await scratch.remove()
    }
  }, 60_000)
})
