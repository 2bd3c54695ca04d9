import { Type, type Static } from '@sinclair/typebox'
import { ErrorBodySchema } from './error-body.js'

export const TokenRequestSchema = Type.Object(
  {
    grant_type: Type.String({ description: 'Only `client_credentials`.' }),
    client_id: Type.Optional(Type.String({ description: 'When the client does not authenticate with HTTP Basic.' })),
    client_secret: Type.Optional(Type.String()),
    scope: Type.Optional(Type.String({ description: 'Ignored: a token carries the permissions of its client.' })),
  },
  {
    title: 'TokenRequest',
    additionalProperties: true,
    // A client's credentials come from `npm run clients -- create`; these stand for them.
    examples: [{ grant_type: 'client_credentials', client_id: '0f8e2b7c-5d1a-4e3b-9c6f-7a2d4b8e1c35', client_secret: 'kT3vQ8xZ1mN5pR7sW9yB2cF4hJ6lD0gA' }],
  },
)
export type TokenRequest = Static<typeof TokenRequestSchema>

export const TokenResponseSchema = Type.Object(
  {
    access_token: Type.String(),
    token_type: Type.Literal('bearer'),
    expires_in: Type.Integer({ description: 'Seconds until the token expires.' }),
  },
  { title: 'TokenResponse' },
)

/** RFC 6749 error members plus the ErrorBody every error of this service carries. */
export const OAuthErrorSchema = Type.Object(
  {
    error: Type.String({ description: 'invalid_request, invalid_client, unsupported_grant_type, ...' }),
    error_description: Type.String(),
    ...ErrorBodySchema.properties,
  },
  { $id: 'OAuthError', title: 'OAuthError' },
)
export type OAuthError = Static<typeof OAuthErrorSchema>
export const OAuthErrorRef = Type.Unsafe<OAuthError>(Type.Ref('OAuthError'))
