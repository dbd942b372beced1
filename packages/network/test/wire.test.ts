import {
  blockHash,
  CodecError,
  createBlock,
  createTransaction,
  decodeBlockAnnouncement,
  decodeSyncRequest,
  decodeSyncResponse,
  decodeTxBatch,
  encodeBlock,
  encodeBlockAnnouncement,
  encodeCbor,
  encodeHeader,
  encodeSyncError,
  encodeSyncRequest,
  encodeSyncResponse,
  encodeTxBatch,
  generateKeyPair,
  SYNC_KINDS,
  type SyncRequest,
  stripTx,
  toHex,
  txId,
  WIRE_LIMITS,
} from '@profichain/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const key = generateKeyPair()
const txs = [0, 1, 2].map((seq) =>
  createTransaction(key, {
    network: 'test',
    seq,
    payload: new Uint8Array([seq, 1, 2, 3]),
    metadata: { n: String(seq) },
  }),
)
const block = createBlock({
  network: 'test',
  height: 1,
  timestamp: 1000,
  prevHash: new Uint8Array(32),
  producer: key.publicKey,
  txs: txs.map(stripTx),
})

describe('wire codec', () => {
  it('round-trips a tx batch', () => {
    const back = decodeTxBatch(encodeTxBatch(txs))
    expect(back.map((t) => toHex(txId(t)))).toEqual(txs.map((t) => toHex(txId(t))))
    expect(back[2].payload).toEqual(txs[2].payload)
    expect(decodeTxBatch(encodeTxBatch([]))).toEqual([])
  })

  it('rejects batches over the item limit and bad versions', () => {
    expect(() => encodeTxBatch(new Array(WIRE_LIMITS.txBatchItems + 1).fill(new Uint8Array(1)))).toThrow(
      CodecError,
    )
    expect(() => decodeTxBatch(encodeCbor([2, []]))).toThrow(/version/)
    expect(() => decodeTxBatch(encodeCbor([1, [new Uint8Array([1, 2])]]))).toThrow(CodecError)
  })

  it('round-trips a block announcement', () => {
    const back = decodeBlockAnnouncement(encodeBlockAnnouncement(block))
    expect(toHex(blockHash(back.header))).toBe(toHex(blockHash(block.header)))
    expect(back.txs).toHaveLength(3)
  })

  it('round-trips every sync request kind', () => {
    const reqs: SyncRequest[] = [
      { kind: 'headers', from: 0, count: 512 },
      { kind: 'block', hash: new Uint8Array(32).fill(7) },
      { kind: 'blocks', from: 5, count: 64 },
      { kind: 'payloads', txIds: [txId(txs[0]), txId(txs[1])] },
      { kind: 'status' },
      { kind: 'members' },
    ]
    for (const r of reqs) expect(decodeSyncRequest(encodeSyncRequest(r))).toEqual(r)
    expect(() => decodeSyncRequest(encodeSyncRequest({ kind: 'headers', from: 0, count: 513 }))).toThrow(
      CodecError,
    )
    expect(() => decodeSyncRequest(encodeSyncRequest({ kind: 'blocks', from: 0, count: 0 }))).toThrow(
      CodecError,
    )
    expect(() => decodeSyncRequest(encodeCbor([1, 'nope', {}]))).toThrow(CodecError)
    expect(() => decodeSyncRequest(encodeCbor([1, 'status', { extra: 1 }]))).toThrow(CodecError)
  })

  it('round-trips every sync response kind and errors', () => {
    const hdrs = decodeSyncResponse('headers', encodeSyncResponse('headers', [encodeHeader(block.header)]))
    expect(hdrs.ok && toHex(blockHash(hdrs.value[0]))).toBe(toHex(blockHash(block.header)))
    const b = decodeSyncResponse('block', encodeSyncResponse('block', encodeBlock(block)))
    expect(b.ok && b.value?.txs.length).toBe(3)
    expect(decodeSyncResponse('block', encodeSyncResponse('block', null))).toEqual({ ok: true, value: null })
    const bs = decodeSyncResponse(
      'blocks',
      encodeSyncResponse('blocks', [encodeBlock(block), encodeBlock(block)]),
    )
    expect(bs.ok && bs.value.length).toBe(2)
    const entries = [
      { txId: txId(txs[0]), payload: txs[0].payload },
      { txId: txId(txs[1]), payload: null },
    ]
    expect(decodeSyncResponse('payloads', encodeSyncResponse('payloads', entries))).toEqual({
      ok: true,
      value: entries,
    })
    const status = {
      height: 9,
      headHash: new Uint8Array(32).fill(1),
      genesisHash: new Uint8Array(32).fill(2),
    }
    expect(decodeSyncResponse('status', encodeSyncResponse('status', status))).toEqual({
      ok: true,
      value: status,
    })
    const members = [{ publicKey: toHex(key.publicKey), addrs: ['/ip4/127.0.0.1/tcp/7001'] }]
    expect(decodeSyncResponse('members', encodeSyncResponse('members', members))).toEqual({
      ok: true,
      value: members,
    })
    expect(decodeSyncResponse('status', encodeSyncError('ERR_X', 'boom'))).toEqual({
      ok: false,
      code: 'ERR_X',
      message: 'boom',
    })
    expect(() =>
      decodeSyncResponse('members', encodeSyncResponse('members', [{ publicKey: 'zz', addrs: [] }])),
    ).toThrow(CodecError)
  })

  it('fuzz: random bytes only ever throw CodecError', () => {
    const decoders: Array<(b: Uint8Array) => unknown> = [
      decodeTxBatch,
      decodeBlockAnnouncement,
      decodeSyncRequest,
      ...SYNC_KINDS.map((k) => (b: Uint8Array) => decodeSyncResponse(k, b)),
    ]
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.nat(decoders.length - 1), (bytes, i) => {
        try {
          decoders[i](bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(CodecError)
        }
      }),
      { numRuns: 3000 },
    )
  })

  it('fuzz: mutated valid messages only ever throw CodecError', () => {
    const samples: Array<[Uint8Array, (b: Uint8Array) => unknown]> = [
      [encodeTxBatch(txs), decodeTxBatch],
      [encodeBlockAnnouncement(block), decodeBlockAnnouncement],
      [encodeSyncRequest({ kind: 'payloads', txIds: [txId(txs[0])] }), decodeSyncRequest],
      [encodeSyncResponse('blocks', [encodeBlock(block)]), (b) => decodeSyncResponse('blocks', b)],
    ]
    fc.assert(
      fc.property(fc.nat(samples.length - 1), fc.nat(), fc.integer({ min: 0, max: 255 }), (s, pos, val) => {
        const [orig, dec] = samples[s]
        const b = orig.slice()
        b[pos % b.length] = val
        try {
          dec(b)
        } catch (err) {
          expect(err).toBeInstanceOf(CodecError)
        }
      }),
      { numRuns: 3000 },
    )
  })
})
