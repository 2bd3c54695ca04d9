import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'

export interface S3Server {
  endpoint: string
  bucket: string
  stop(): Promise<void>
}

const CLI = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js')

/**
 * s3rver, an S3-compatible server, as a real child process over a temporary directory of its own, with `bucket`
 * made at start. It does not check signatures or Content-MD5: it tests the wire protocol, not authentication.
 */
export async function startS3rver(bucket = 'media'): Promise<S3Server> {
  // s3rver's own credentials, for the SDK's default chain.
  process.env.AWS_ACCESS_KEY_ID ||= 'S3RVER'
  process.env.AWS_SECRET_ACCESS_KEY ||= 'S3RVER'
  const directory = await mkdtemp(path.join(tmpdir(), 's3rver-'))
  const child = spawn(process.execPath, [CLI, '--directory', directory, '--address', '127.0.0.1', '--port', '0', '--silent', '--configure-bucket', bucket], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // A test process that dies without stop() takes the server with it.
  const kill = () => child.kill('SIGKILL')
  process.once('exit', kill)
  const stop = async () => {
    process.off('exit', kill)
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill()
      await exited
    }
    await rm(directory, { recursive: true, force: true })
  }
  try {
    let output = ''
    let timer: NodeJS.Timeout | undefined
    const port = await new Promise<number>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`s3rver did not listen within 15 s: ${output}`)), 15_000)
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        const listening = /listening on [^\s:]+:(\d+)/.exec(output)
        if (listening) resolve(Number(listening[1]))
      })
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
      child.once('error', reject)
      child.once('exit', (code, signal) => reject(new Error(`s3rver exited (${code ?? signal}) before listening: ${output}`)))
    }).finally(() => clearTimeout(timer))
    return { endpoint: `http://127.0.0.1:${port}`, bucket, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
