import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CreateRecordingSchema, RecordingMetadataSchema, RecordingSchema } from '../../src/schemas/recording.js'
import { INGEST_COLUMNS, RECORDING_SHAPE, ingestedColumns } from '../../src/services/recording-sql.js'
import { createTestContext, type TestContext } from '../helpers.js'

// The one description of the Recording wire shape (RECORDING_SHAPE) generates the JSON of a Recording and of its
// metadata and the ingest's columns. These checks fail when a field is added in one place and forgotten in another.

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx?.close()
})

describe('the Recording wire shape', () => {
  it('describes every property of the Recording response schema, in its order, and nothing else', () => {
    const described = RECORDING_SHAPE.map((member) => member.wire)
    // messagingTranscript is appended to the JSON after the others (its messages keep their nulls).
    const schema = Object.keys(RecordingSchema.properties).filter((name) => name !== 'messagingTranscript')
    expect(described).toEqual(schema)
    expect(new Set(described).size).toBe(described.length)
  })

  it('marks as metadata exactly the properties of RecordingMetadata (but region, which is not tracked)', () => {
    const metadata = RECORDING_SHAPE.filter((member) => member.metadata).map((member) => member.wire)
    expect(metadata).toEqual(Object.keys(RecordingMetadataSchema.properties).filter((name) => name !== 'region'))
  })

  it('reads and writes only columns the recordings table has', async () => {
    const { rows } = await ctx.sql.query<{ column_name: string }>(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'recordings'",
    )
    const columns = new Set(rows.map((row) => row.column_name))
    for (const column of INGEST_COLUMNS) expect(columns, column).toContain(column)
    for (const member of RECORDING_SHAPE) {
      if (member.column) expect(columns, `${member.wire}: ${member.column}`).toContain(member.column)
      // A member read straight from a column reads that one.
      if (typeof member.sql === 'string' && /^r\.[a-z_]+$/.test(member.sql)) expect(columns, member.wire).toContain(member.sql.slice(2))
    }
  })

  it('takes every ingested member from the property of the same name of the ingest body, as given or as an instant', () => {
    for (const member of RECORDING_SHAPE.filter((m) => m.ingest)) expect(Object.keys(CreateRecordingSchema.properties), member.wire).toContain(member.wire)
    expect(ingestedColumns({ sessionId: 's-1', startTime: '2024-05-01T14:00:00+02:00', name: 'n' })).toMatchObject({
      session_id: 's-1', start_time: '2024-05-01T12:00:00.000Z', name: 'n', end_time: null,
    })
  })
})
