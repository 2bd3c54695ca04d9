// The part of autocannon 9's API the bench uses (the package ships no types of its own).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  namespace autocannon {
    interface Request {
      method?: string
      path?: string
      headers?: Record<string, string>
      body?: string
      /** Called before every request of this kind; returns the request to send. */
      setupRequest?: (request: Request) => Request
    }
    interface Options {
      url: string
      connections?: number
      duration?: number
      /** Requests per second over all connections (0: as fast as they are answered). */
      overallRate?: number
      timeout?: number
      headers?: Record<string, string>
      requests?: Request[]
    }
    interface Result {
      duration: number
      errors: number
      timeouts: number
      non2xx: number
      '2xx': number
      statusCodeStats: Record<string, { count: number }>
    }
    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop(): void
      on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, ms: number) => void): this
      on(event: 'done', listener: (result: Result) => void): this
      on(event: string, listener: (...args: unknown[]) => void): this
    }
  }
  function autocannon(options: autocannon.Options): autocannon.Instance
  export = autocannon
}
