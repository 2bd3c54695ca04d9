import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'

/**
 * Parses a query string the way Genesys clients send it: a repeated key becomes an array, and an empty value (the SDK
 * sends `fileName=` for a null option) counts as absent.
 */
export function parseQueryString(text: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = Object.create(null)
  for (const [key, value] of new URLSearchParams(text)) {
    if (value === '') continue
    const previous = query[key]
    query[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value]
  }
  return query
}

/** preValidation hook: splits `a,b` (and each repeated `a,b`) of the named array options into their items. */
export function splitCommaJoined(names: string[]) {
  return (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const query = request.query as Record<string, unknown>
    for (const name of names) {
      const value = query[name]
      if (value === undefined) continue
      query[name] = (Array.isArray(value) ? value : [value]).flatMap((item) => String(item).split(',')).filter((item) => item !== '')
    }
    done()
  }
}
