import type { FastifyReply } from 'fastify'
import type { Body } from '../services/recording-service.js'

export const JSON_TEXT = 'application/json; charset=utf-8'

/**
 * Sends a service's answer. JSON text that PostgreSQL built goes out as it is: Fastify does not serialize a string
 * payload once a JSON content type is set, so the route's response schema serializes only the object answers.
 */
export function sendBody<T>(reply: FastifyReply, body: Body<T>): FastifyReply {
  return 'json' in body ? reply.type(JSON_TEXT).send(body.json) : reply.send(body.value)
}
