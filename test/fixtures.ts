/** Ingest bodies that set every field the ingest route accepts, one per kind of media. */

export const audioRecording = {
  name: 'inbound call',
  startTime: '2024-05-01T12:00:03.120Z',
  endTime: '2024-05-01T12:07:41.880Z',
  media: 'audio',
  mediaSubtype: 'Trunk',
  mediaSubject: 'billing question',
  sessionId: 'b3f1c2d4-0000-4000-8000-00000000aaaa',
  recordingFileRole: 'CUSTOMER_EXPERIENCE',
  associatedConversationIds: ['0a1b2c3d-0000-4000-8000-000000000002', '0a1b2c3d-0000-4000-8000-000000000003'],
  users: [
    { id: '5f2e0000-0000-4000-8000-000000000001', name: 'Ada Agent', username: 'ada@example.com', email: 'ada@example.com', division: { id: 'd1', name: 'Home' } },
    { id: '5f2e0000-0000-4000-8000-000000000002', name: 'Bo Supervisor' },
  ],
  annotations: [
    { name: 'greeting', type: 'bookmark', location: 1_000, durationMs: 0, description: 'agent greets' },
    {
      name: 'hold', type: 'hold', location: 65_000, durationMs: 12_000, absoluteLocation: 64_000, absoluteDurationMs: 12_000,
      recordingLocation: 63_000, recordingDurationMs: 11_000, realtimeLocation: 66_000, reason: 'Hold',
      user: { id: '5f2e0000-0000-4000-8000-000000000001', name: 'Ada Agent' },
    },
  ],
  archiveDate: '2030-11-01T00:00:00.000Z',
  deleteDate: '2031-05-01T00:00:00.000Z',
  mediaUris: {
    S: { mediaUri: 'https://media.example.internal/rec.webm', waveformData: [0.1, 0.4, 0.25] },
    L: { mediaUri: 'https://media.example.internal/rec-left.webm' },
  },
  path: 'recordings/2024/05/01/rec.webm',
  estimatedTranscodeTimeMs: 1200,
  actualTranscodeTimeMs: 9_007_199_254_740_991,
  outputDurationMs: 458_760,
  outputSizeInBytes: 3_670_016,
}

export const chatRecording = {
  name: 'web chat',
  startTime: '2024-05-02T09:00:00.000Z',
  endTime: '2024-05-02T09:10:00.000Z',
  media: 'chat',
  recordingFileRole: 'CUSTOMER_EXPERIENCE',
  transcript: [
    {
      body: 'Hello, I need a refund',
      id: 'm1',
      to: 'agent',
      from: 'customer',
      utc: '1714640400000',
      chat: 'chat-1',
      message: 'msg-1',
      type: 'message',
      bodyType: 'STANDARD',
      senderCommunicationId: 'comm-1',
      participantPurpose: 'customer',
      user: { id: 'cust-1', name: 'Carla Customer', displayName: 'Carla', username: 'carla', images: [{ resolution: 'x96', imageUri: 'https://img.example/carla.png' }] },
    },
    { body: 'Sure, let me check', id: 'm2', from: 'agent', bodyType: 'STANDARD', participantPurpose: 'agent' },
    { body: 'Ada joined', id: 'm3', bodyType: 'MEMBERJOIN' },
  ],
}

export const emailRecording = {
  name: 'email thread',
  media: 'email',
  mediaSubject: 'Invoice 42',
  emailTranscript: [
    {
      htmlBody: '<p>Where is my invoice?</p>',
      textBody: 'Where is my invoice?',
      id: 'e1',
      to: [{ email: 'support@example.com', name: 'Support' }],
      cc: [{ email: 'boss@example.com' }],
      bcc: [{ email: 'audit@example.com', name: 'Audit' }],
      from: { email: 'carla@example.net', name: 'Carla' },
      replyTo: { email: 'carla+reply@example.net' },
      subject: 'Invoice 42',
      attachments: [{ name: 'scan.pdf', contentPath: '/files/scan.pdf', contentType: 'application/pdf', attachmentId: 'a1', contentLength: 2048 }],
      time: '2024-05-03T08:00:00.000Z',
    },
    { textBody: 'Attached.', id: 'e2', from: { email: 'support@example.com' }, subject: 'Re: Invoice 42', time: '2024-05-03T09:30:00.000Z' },
  ],
}

export const messagingRecording = {
  name: 'whatsapp',
  media: 'messaging',
  startTime: '2024-05-04T10:00:00.000Z',
  messagingTranscript: [
    {
      from: 'session-customer',
      fromExternalContact: { id: 'ext-1', firstName: 'Carla', lastName: 'Customer', cellPhone: { e164: '+15550100' }, customFields: { tier: 'gold', score: 7 } },
      to: 'session-agent',
      timestamp: '2024-05-04T10:00:01.000Z',
      id: 'wm1',
      purpose: 'customer',
      participantId: 'p1',
      messageText: 'Can I change my delivery date?',
      messageMediaAttachments: [{ url: 'https://img.example/1.png', mediaType: 'image/png', contentLength: 1234, name: '1.png', id: 'att1' }],
      contentType: 'Attachment',
      socialVisibility: 'Private',
      messageReceipts: [{ id: 'wm1', receiptTime: '2024-05-04T10:00:02.000Z', status: 'Read' }],
    },
    {
      from: 'session-agent',
      fromUser: { id: '5f2e0000-0000-4000-8000-000000000001', name: 'Ada Agent', version: 3 },
      timestamp: '2024-05-04T10:00:30.000Z',
      id: 'wm2',
      purpose: 'agent',
      queue: { id: 'q1', selfUri: '/api/v2/routing/queues/q1' },
      messageText: 'Pick a date',
      contentType: 'DatePicker',
      datePicker: {
        title: 'Delivery',
        datePickerAvailableDateTimes: [{ dateTime: '2024-05-06T09:00:00.000Z', duration: 3600 }],
      },
      cards: [{ title: 'Card', actions: [{ type: 'Link', text: 'Open', url: 'https://example.com' }] }],
      events: [{ eventType: 'Typing', typing: { type: 'On', duration: 500 } }],
      someFutureSdkProperty: { nested: [1, 2, { deep: true }] },
    },
  ],
}
