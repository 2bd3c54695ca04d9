// The baseline the service's media routes are measured against, on the same disk: uploads go through a plain
// node:http handler that streams the body to a file and fsyncs it (no authentication, hashing, type check or
// database), reads through @fastify/static serving the files the service stored. A ceiling, not a competitor.
//
// Run by bench/run.ts as its own process: DATA_DIR (the service's), PORT (0: any). Serves
//   PUT /uploads/<name>   the body into DATA_DIR/uploads/<name>, answered 201 once flushed to disk
//   GET /files/<key>      DATA_DIR/media/<key>, with ranges, as @fastify/static does
// Prints {"listening":"http://127.0.0.1:<port>"} once it listens.
import fastifyStatic from '@fastify/static'
import Fastify from 'fastify'
import { createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'

const dataDir = process.env.DATA_DIR
if (!dataDir) throw new Error('DATA_DIR must name the directory the service stores its media under')
const uploads = path.join(dataDir, 'uploads')
const media = path.join(dataDir, 'media')
await mkdir(uploads, { recursive: true })
await mkdir(media, { recursive: true })

const NAME = /^\/uploads\/([\w-]+)$/

async function upload(request: http.IncomingMessage, response: http.ServerResponse) {
  const name = NAME.exec(request.url ?? '')?.[1]
  if (!name) {
    response.writeHead(404).end()
    return
  }
  try {
    // `flush`: fsync before the stream closes, as the service's storage does.
    await pipeline(request, createWriteStream(path.join(uploads, name), { flags: 'wx', flush: true }))
    response.writeHead(201).end()
  } catch (error) {
    response.writeHead(500).end(String(error))
  }
}

const app = Fastify({
  logger: false,
  // PUTs never reach Fastify: the upload baseline is Node's HTTP server alone.
  serverFactory: (handler) =>
    http.createServer((request, response) => {
      if (request.method === 'PUT') void upload(request, response)
      else handler(request, response)
    }),
})
await app.register(fastifyStatic, { root: media, prefix: '/files/' })

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
const address = app.server.address()
console.log(JSON.stringify({ listening: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` }))

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void app.close().finally(() => process.exit(0))
  })
}
