import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { REQUIRES, requireAny } from '../auth/permissions.js'
import { CREATE_ERRORS, NoContent, READ_ERRORS, WRITE_ERRORS } from '../schemas/error-body.js'
import {
  CrossPlatformPolicyCreateSchema, CrossPlatformPolicyEntityListingSchema, CrossPlatformPolicyParams, CrossPlatformPolicySchema,
  CrossPlatformPolicyUpdateSchema, DeleteCrossPlatformPoliciesQuery, DeletePoliciesQuery, PolicyCreateSchema, PolicyEntityListingSchema,
  PolicyListQuery, PolicyParams, PolicySchema, PolicyUpdateSchema,
} from '../schemas/retention-policies.js'
import { POLICY_CACHE_MS, POLICY_PATHS, type PolicyFamily } from '../services/retention-policy-service.js'
import { audit } from './audit.js'

const APPLIES =
  'An enabled policy without policyErrors sets the archiveDate and deleteDate of recordings ingested from then on (never of ' +
  'earlier ones) that are ingested without either date and match its conditions; when several match, the longest ' +
  `retention wins. Other instances of the service take a change up within ${POLICY_CACHE_MS / 1000} seconds.`

const SAVED =
  'Conditions this store cannot evaluate (queues, wrap-up codes, languages, teams, directions, customer participation) or ' +
  'cannot read (a malformed date range, time slot, time zone or duration) are answered in policyErrors, and the policy ' +
  'applies to no recording until they are changed. Evaluations, surveys, calibrations, screen recordings and exports ' +
  'are stored and answered as given, not acted on. Answers 200 with the stored policy.'

/** Both families of `/api/v2/recording/.../mediaretentionpolicies`: the same operations over their own policies. */
const FAMILIES = [
  {
    family: 'classic' as PolicyFamily,
    name: '',
    tags: ['Retention policies'],
    policy: PolicySchema, create: PolicyCreateSchema, update: PolicyUpdateSchema, listing: PolicyEntityListingSchema,
    params: PolicyParams, deleteQuery: DeletePoliciesQuery,
    requires: {
      view: REQUIRES.viewRetentionPolicies, add: REQUIRES.addRetentionPolicy, edit: REQUIRES.editRetentionPolicy, delete: REQUIRES.deleteRetentionPolicy,
    },
  },
  {
    family: 'crossplatform' as PolicyFamily,
    name: 'Crossplatform',
    tags: ['Cross-platform policies'],
    policy: CrossPlatformPolicySchema, create: CrossPlatformPolicyCreateSchema, update: CrossPlatformPolicyUpdateSchema,
    listing: CrossPlatformPolicyEntityListingSchema, params: CrossPlatformPolicyParams, deleteQuery: DeleteCrossPlatformPoliciesQuery,
    requires: {
      view: REQUIRES.viewCrossPlatformRetentionPolicies, add: REQUIRES.addCrossPlatformRetentionPolicy,
      edit: REQUIRES.editCrossPlatformRetentionPolicy, delete: REQUIRES.deleteCrossPlatformRetentionPolicy,
    },
  },
] as const

/** Media retention policies, classic and cross-platform. */
export const retentionPolicyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { retentionPolicies } = app.services

  for (const { family, name, tags, policy, create, update, listing, params, deleteQuery, requires } of FAMILIES) {
    const path = POLICY_PATHS[family]
    const scope = (request: FastifyRequest) => ({ organizationId: request.organizationId, family })
    const what = family === 'classic' ? 'media retention policy' : 'cross-platform media retention policy'

    app.get(path, {
      schema: {
        operationId: `getRecording${name}Mediaretentionpolicies`,
        ...requireAny(requires.view),
        summary: `List the ${what.replace('policy', 'policies')}`,
        description:
          'Page by pageNumber and pageSize; filter by name (contained, any case), enabled, hasErrors and ' +
          'deleteDaysThreshold; sortBy name, dateCreated (default) or dateModified (ascending). summary=true answers only the head ' +
          'of each policy. expand, nextPage and previousPage are accepted and ignored.',
        tags,
        querystring: PolicyListQuery,
        response: { 200: listing, ...READ_ERRORS },
      },
    }, async (request) => retentionPolicies.list(scope(request), request.query))

    app.post(path, {
      schema: {
        operationId: `postRecording${name}Mediaretentionpolicies`,
        ...requireAny(requires.add),
        summary: `Create a ${what}`,
        description: `name is required; enabled defaults to false. ${SAVED} ${APPLIES}`,
        tags,
        body: create,
        response: { 200: policy, ...CREATE_ERRORS },
      },
    }, async (request) => {
      const created = await retentionPolicies.create(scope(request), request.body, { correlationId: request.id })
      audit(request, 'retentionPolicy.create', { family, policyId: created.id })
      return created
    })

    app.delete(path, {
      schema: {
        operationId: `deleteRecording${name}Mediaretentionpolicies`,
        ...requireAny(requires.delete),
        summary: `Delete ${what.replace('policy', 'policies')} by id`,
        description: 'Deletes the policies whose ids are listed (comma-separated); ids not found are skipped. Recordings keep their dates.',
        tags,
        querystring: deleteQuery,
        response: { 204: NoContent, ...READ_ERRORS },
      },
    }, async (request, reply) => {
      const count = await retentionPolicies.removeMany(scope(request), request.query.ids)
      audit(request, 'retentionPolicy.deleteMany', { family, ids: request.query.ids, deleted: String(count) })
      return reply.code(204).send()
    })

    app.get(`${path}/:policyId`, {
      schema: {
        operationId: `getRecording${name}Mediaretentionpolicy`,
        ...requireAny(requires.view),
        summary: `Get a ${what}`,
        tags,
        params,
        response: { 200: policy, ...READ_ERRORS },
      },
    }, async (request) => retentionPolicies.get(scope(request), request.params.policyId))

    app.put(`${path}/:policyId`, {
      schema: {
        operationId: `putRecording${name}Mediaretentionpolicy`,
        ...requireAny(requires.edit),
        summary: `Replace a ${what}`,
        description: `The whole policy, as read from GET (name absent: kept; enabled absent: false). ${SAVED} ${APPLIES}`,
        tags,
        params,
        body: policy,
        response: { 200: policy, ...WRITE_ERRORS },
      },
    }, async (request) => {
      const saved = await retentionPolicies.replace(scope(request), request.params.policyId, request.body, { correlationId: request.id })
      audit(request, 'retentionPolicy.replace', { family, policyId: saved.id })
      return saved
    })

    app.patch(`${path}/:policyId`, {
      schema: {
        operationId: `patchRecording${name}Mediaretentionpolicy`,
        ...requireAny(requires.edit),
        summary: `Enable or disable a ${what}`,
        description: `Only enabled is changed. ${APPLIES}`,
        tags,
        params,
        body: update,
        response: { 200: policy, ...WRITE_ERRORS },
      },
    }, async (request) => {
      const saved = await retentionPolicies.update(scope(request), request.params.policyId, request.body)
      audit(request, 'retentionPolicy.update', { family, policyId: saved.id, enabled: String(saved.enabled) })
      return saved
    })

    app.delete(`${path}/:policyId`, {
      schema: {
        operationId: `deleteRecording${name}Mediaretentionpolicy`,
        ...requireAny(requires.delete),
        summary: `Delete a ${what}`,
        description: 'Recordings keep the dates it gave them.',
        tags,
        params,
        response: { 204: NoContent, ...READ_ERRORS },
      },
    }, async (request, reply) => {
      await retentionPolicies.remove(scope(request), request.params.policyId)
      audit(request, 'retentionPolicy.delete', { family, policyId: request.params.policyId })
      return reply.code(204).send()
    })
  }
}
