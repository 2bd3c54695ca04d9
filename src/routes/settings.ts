import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { REQUIRES, requireAny } from '../auth/permissions.js'
import { READ_ERRORS, WRITE_ERRORS } from '../schemas/error-body.js'
import { GetSettingsQuery, RecordingSettingsSchema } from '../schemas/settings.js'
import { audit } from './audit.js'

/** `/api/v2/recording/settings`: the organization's recording settings. */
export const settingsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { settings } = app.services
  const tags = ['Settings']

  app.get('/api/v2/recording/settings', {
    schema: {
      operationId: 'getRecordingSettings',
      ...requireAny(REQUIRES.viewSettings),
      summary: 'Get the recording settings of the organization',
      description: 'Without stored settings, 404 unless createDefault=true, which stores the defaults and answers them.',
      tags,
      querystring: GetSettingsQuery,
      response: { 200: RecordingSettingsSchema, ...READ_ERRORS },
    },
  }, async (request) => settings.get(request.organizationId, request.query.createDefault))

  app.put('/api/v2/recording/settings', {
    schema: {
      operationId: 'putRecordingSettings',
      ...requireAny(REQUIRES.editSettings),
      summary: 'Update the recording settings of the organization',
      description:
        'Accepts the RecordingSettings as read from GET; members left out keep their value, the restoration limits are ' +
        'read-only. Each member that changes needs its permission: the URL lifetimes editUrlExpiration, the stream ' +
        'limits editScreenRecordings, regional storage editRegionalStorage, stopRecordingWhenOnlyExternalParticipants ' +
        'editConferenceRecording. A new recordingPlaybackUrlTtl applies to mediaUris issued from then on; other ' +
        'instances of the service take it up within 10 seconds.',
      tags,
      body: RecordingSettingsSchema,
      response: { 200: RecordingSettingsSchema, ...WRITE_ERRORS },
    },
  }, async (request) => {
    const saved = await settings.update(request.organizationId, request.body, new Set(request.client?.permissions ?? []))
    audit(request, 'settings.update', { settings: JSON.stringify(saved) })
    return saved
  })
}
