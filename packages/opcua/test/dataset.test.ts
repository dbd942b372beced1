import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type JsonNetworkMessage, OpcuaError, parseBridgeLine } from '../src/index.js'

const iso = fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString())
const dataSetMessage = fc.record({
  DataSetWriterId: fc.integer({ min: 0, max: 0xffff }),
  DataSetWriterName: fc.string(),
  SequenceNumber: fc.integer({ min: 0, max: 0xffffffff }),
  Timestamp: iso,
  MessageType: fc.constant('ua-deltaframe' as const),
  Payload: fc.dictionary(
    fc.string({ minLength: 1 }),
    fc.record({ Value: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), fc.boolean(), fc.constant(null)), SourceTimestamp: iso, StatusCode: fc.integer({ min: 0, max: 0xffffffff }) }),
    { maxKeys: 3 },
  ),
})
const networkMessage = fc.record({
  MessageId: fc.uuid(),
  MessageType: fc.constant('ua-data' as const),
  PublisherId: fc.string({ minLength: 1 }),
  Messages: fc.array(dataSetMessage, { maxLength: 20 }),
})

describe('bridge lines (OPC UA PubSub JSON + file header + gap marker)', () => {
  it('decodes every NetworkMessage the bridge can write, unchanged', () => {
    fc.assert(
      fc.property(networkMessage, (m) => {
        const p = parseBridgeLine(JSON.stringify(m))
        expect(p.kind).toBe('data')
        if (p.kind === 'data') expect(JSON.stringify(p.message)).toBe(JSON.stringify(m as JsonNetworkMessage))
      }),
    )
  })

  it('decodes file headers and gap markers', () => {
    const h = { profichainOpcua: 1, type: 'file', publisherId: 'mill-1', fileSeq: 2, prevFileHash: 'ab'.repeat(32), createdAt: new Date(0).toISOString() }
    expect(parseBridgeLine(JSON.stringify(h))).toEqual({ kind: 'file', header: h })
    const g = { profichainOpcua: 1, type: 'gap', publisherId: 'mill-1', server: 'opc.tcp://x', reason: 'connection-lost', lostAt: 'a', restoredAt: 'b' }
    expect(parseBridgeLine(JSON.stringify(g))).toEqual({ kind: 'gap', gap: g })
    expect(() => parseBridgeLine(JSON.stringify({ ...h, prevFileHash: 'xyz' }))).toThrow(/prevFileHash/)
    expect(() => parseBridgeLine(JSON.stringify({ ...g, reason: 'other' }))).toThrow(/reason/)
    expect(() => parseBridgeLine(JSON.stringify({ ...h, fileSeq: 0 }))).toThrow(/fileSeq/)
  })

  it('fuzz: random and mutated lines give ERR_OPCUA_LINE or a valid decode, never another error', () => {
    const sample = JSON.stringify({
      MessageId: 'm',
      MessageType: 'ua-data',
      PublisherId: 'p',
      Messages: [{ DataSetWriterId: 1, SequenceNumber: 1, Timestamp: 't', MessageType: 'ua-deltaframe', Payload: { a: { Value: 1, StatusCode: 0 } } }],
    })
    const mutated = fc
      .array(fc.tuple(fc.nat({ max: sample.length - 1 }), fc.string({ maxLength: 3 }), fc.nat({ max: 3 })), { minLength: 1, maxLength: 5 })
      .map((muts) => muts.reduce((s, [at, ins, del]) => s.slice(0, at) + ins + s.slice(at + del), sample))
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.json(), mutated, fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1'))), (line) => {
        try {
          const p = parseBridgeLine(line)
          expect(['data', 'file', 'gap']).toContain(p.kind)
        } catch (err) {
          expect(err).toBeInstanceOf(OpcuaError)
          expect((err as OpcuaError).code).toBe('ERR_OPCUA_LINE')
        }
      }),
      { numRuns: 3000 },
    )
  })
})
