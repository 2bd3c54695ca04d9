// Uses the official Genesys Cloud SDK (npm purecloud-platform-client-v2) against a running recording-store.
//   npm start                                                            # in one terminal
//   GC_CLIENT_ID=… GC_CLIENT_SECRET=… node examples/genesys-sdk.mjs     # in another
// The store is at RECORDING_STORE_URL, else http://127.0.0.1:$PORT (PORT as given to the server, default 3000). The
// client needs every permission (e.g. `--permissions all`). Any failure is one line on stderr and exit code 1.
import platformClient from 'purecloud-platform-client-v2'

const { GC_CLIENT_ID, GC_CLIENT_SECRET } = process.env
if (!GC_CLIENT_ID || !GC_CLIENT_SECRET) {
  console.error('Set GC_CLIENT_ID and GC_CLIENT_SECRET to the credentials of a client (see "Managing clients" in the README).')
  process.exit(2)
}

const url = process.env.RECORDING_STORE_URL || `http://127.0.0.1:${process.env.PORT || 3000}`
if (!URL.canParse(url)) {
  console.error(`RECORDING_STORE_URL must be the store's base URL, e.g. http://127.0.0.1:3000 (it is ${url}).`)
  process.exit(2)
}
const base = new URL(url)

/** What went wrong, in one line: the SDK's and fetch's errors are objects of hundreds of lines. */
function explain(error) {
  const code = error?.code ?? error?.cause?.code
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ECONNRESET', 'ETIMEDOUT'].includes(code)) {
    return `cannot reach recording-store at ${base.origin} (${code}): start it with \`npm start\`, or set RECORDING_STORE_URL (or PORT) to where it listens`
  }
  // A refused login rejects with the HTTP library's error, carrying the RFC 6749 body.
  const response = error?.response
  if (response) {
    const reason = response.data?.error_description ?? response.data?.message ?? response.statusText
    const hint = response.status === 401 ? '; check GC_CLIENT_ID and GC_CLIENT_SECRET' : ''
    return `login refused by ${base.origin}: ${response.status} ${reason}${hint}`
  }
  // API calls reject with the parsed ErrorBody.
  if (typeof error?.status === 'number') return `${error.status} ${error.code ?? ''}: ${error.message}`
  return error instanceof Error ? error.message : String(error)
}

async function run() {
  const client = platformClient.ApiClient.instance
  const port = Number(base.port || (base.protocol === 'https:' ? 443 : 80))
  // setEnvironment() only builds https://api.<env> URLs; a local server is reached through the gateway setting.
  client.setGateway({ host: base.hostname, protocol: base.protocol.replace(':', ''), port })

  // POST /oauth/token with HTTP Basic, as against Genesys Cloud.
  const { accessToken, tokenExpiryTimeString } = await client.loginClientCredentialsGrant(GC_CLIENT_ID, GC_CLIENT_SECRET)
  console.log('logged in; token expires', tokenExpiryTimeString)

  const conversationId = process.argv[2] ?? crypto.randomUUID()

  // The Genesys API has no call that creates a recording: producers use the store's ingest route.
  const ingest = await fetch(new URL(`/api/v2/conversations/${conversationId}/recordings`, base), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
    body: JSON.stringify({
      name: 'support chat',
      media: 'chat',
      startTime: '2024-05-02T09:00:00.000Z',
      transcript: [
        { id: 'm1', from: 'customer', body: 'Hello, I need a refund', bodyType: 'STANDARD' },
        { id: 'm2', from: 'agent', body: 'Sure, let me check', bodyType: 'STANDARD' },
      ],
    }),
  })
  // The error body, as the SDK's calls reject with it.
  if (ingest.status !== 201) throw await ingest.json()
  const { id: recordingId } = await ingest.json()

  const recordingApi = new platformClient.RecordingApi()

  const recording = await recordingApi.getConversationRecording(conversationId, recordingId)
  console.log('read:', recording.name, recording.media, recording.fileState, `${recording.transcript.length} messages`)

  // Genesys semantics: send the whole object back; only the retention dates are applied.
  const updated = await recordingApi.putConversationRecording(conversationId, recordingId, { ...recording, deleteDate: '2031-01-01T00:00:00.000Z' })
  console.log('deleteDate now:', updated.deleteDate)

  const bookmark = await recordingApi.postConversationRecordingAnnotations(conversationId, recordingId, {
    name: 'refund', type: 'bookmark', location: 0, durationMs: 0, description: 'customer asks for a refund',
  })
  console.log('annotations:', (await recordingApi.getConversationRecordingAnnotations(conversationId, recordingId)).map((a) => a.name))
  await recordingApi.deleteConversationRecordingAnnotation(conversationId, recordingId, bookmark.id)

  console.log('recordings in the conversation:', (await recordingApi.getConversationRecordings(conversationId)).length)

  try {
    await recordingApi.getConversationRecording(conversationId, crypto.randomUUID())
  } catch (err) {
    // API errors reject with the parsed ErrorBody.
    console.log('unknown id:', err.status, err.code, '-', err.message)
  }
}

try {
  await run()
} catch (error) {
  console.error(`genesys-sdk example failed: ${explain(error)}`)
  process.exit(1)
}
