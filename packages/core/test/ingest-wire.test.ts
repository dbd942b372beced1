import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as core from '../src/index.js'
import {
  type AckEntry,
  type DecodedIngestFrame,
  decodeFrameBody,
  encodeCbor,
  encodeFrame,
  encodeFrameBody,
  FrameReader,
  fromHex,
  INGEST_CODES,
  type IngestFrame,
  IngestWireError,
  signHello,
  toHex,
  type Transaction,
  verifyHello,
  withLengthPrefix,
} from '../src/index.js'
import { bytes, text, transactionArb, u } from './arbitraries.js'
import { makeTx, testKey } from './helpers.js'
import { computeIngestVectors } from './ingest-vectors.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const fixture = JSON.parse(readFileSync(join(here, 'fixtures/ingest-protocol.json'), 'utf8')) as ReturnType<typeof computeIngestVectors>

/** A decoded frame in the shape it was encoded from (a submit's items back to txs). */
function normalise(f: DecodedIngestFrame): IngestFrame {
  if (f.type !== 'submit') return f
  return {
    type: 'submit',
    batchId: f.batchId,
    txs: f.items.map((i) => {
      if (!i.ok) throw i.error
      return i.tx
    }),
  }
}

const plain = (x: unknown) => JSON.parse(JSON.stringify(x, (_k, v) => (v instanceof Uint8Array ? `hex:${toHex(v)}` : v)))

const codeArb = fc.constantFrom(...INGEST_CODES)
const ackArb: fc.Arbitrary<AckEntry> = fc.oneof(
  fc.record({ txId: bytes(32), status: fc.constantFrom('accepted' as const, 'duplicate' as const), code: fc.constant('') }),
  fc.record({ txId: bytes(32), status: fc.constant('rejected' as const), code: codeArb }),
)
const frameArb: fc.Arbitrary<IngestFrame> = fc.oneof(
  fc.record({
    type: fc.constant('server-hello' as const),
    challenge: bytes(32),
    network: text(64),
    limits: fc.record({ maxFrameBytes: fc.integer({ min: 1024, max: 2 ** 31 }), maxBatch: fc.integer({ min: 1, max: 1e6 }), maxInFlight: fc.integer({ min: 1, max: 1000 }) }),
  }),
  fc.record({ type: fc.constant('hello' as const), publicKey: bytes(32), signature: bytes(64) }),
  fc.record({ type: fc.constant('welcome' as const), deviceId: text(256), registered: fc.boolean(), nextSeq: u }),
  fc.record({ type: fc.constant('submit' as const), batchId: u, txs: fc.array(transactionArb, { maxLength: 4 }) }),
  fc.record({ type: fc.constant('ack' as const), batchId: u, results: fc.array(ackArb, { maxLength: 8 }) }),
  fc.record({ type: fc.constant('receipt' as const), txId: bytes(32), height: u, blockHash: bytes(32), chainpoint: text(2000) }),
  fc.record({ type: fc.constant('error' as const), code: codeArb, message: text(1024) }),
  fc.record({ type: fc.constant('receipt-ack' as const), txIds: fc.array(bytes(32), { maxLength: 8 }) }),
)

function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(IngestWireError)
    return (err as IngestWireError).code
  }
  throw new Error('expected an IngestWireError')
}

describe('ingest protocol vectors (packages/core/test/fixtures/ingest-protocol.json)', () => {
  it('recomputing them gives the fixture under both crypto backends', () => {
    for (const backend of [core.createNodeBackend(), core.createNobleBackend()]) {
      core.setCrypto(backend)
      try {
        expect(JSON.parse(JSON.stringify(computeIngestVectors(core))), backend.name).toEqual({
          vectors: fixture.vectors,
          tier2: fixture.tier2,
          frames: fixture.frames,
        })
      } finally {
        core.setCrypto(core.createNodeBackend())
      }
    }
  })

  it('every vector frame decodes, and re-encodes to the same bytes', () => {
    for (const [name, hex] of Object.entries(fixture.frames)) {
      const bytesIn = fromHex(hex)
      const frames = new FrameReader(4 * 1024 * 1024).push(bytesIn)
      expect(frames, name).toHaveLength(1)
      const f = decodeFrameBody(frames[0])
      expect(f.type).toBe(name)
      expect(toHex(encodeFrame(normalise(f)))).toBe(hex)
    }
  })

  it('the values quoted in docs/ingest-protocol.md are the fixture\'s', () => {
    const doc = readFileSync(join(here, '../../../docs/ingest-protocol.md'), 'utf8')
    for (const k of ['recordKey', 'commitment', 'payload'] as const) expect(doc).toContain(`${k === 'recordKey' ? 'K' : k} = ${fixture.tier2[k]}`)
    const welcome = fixture.frames.welcome
    expect(welcome).toBe('0000002b' + '830102' + 'a3' + '676e657874536571' + '06' + '686465766963654964' + '6873656e736f722d31' + '6a72656769737465726564' + 'f5')
    expect(fixture.frames['receipt-ack']).toBe(`00000026830107815820${fixture.vectors['tx0.txId']}`)
  })

  it('the hello signature verifies, and not for another challenge, server or network', () => {
    const v = fixture.vectors
    const I = (fixture as unknown as { inputs: { challenge: string; certFingerprint: string; network: string } }).inputs
    const pub = fromHex(v.devicePublicKey)
    const sig = fromHex(v.helloSignature)
    const ch = fromHex(I.challenge)
    const fp = fromHex(I.certFingerprint)
    expect(verifyHello(pub, sig, ch, fp, I.network)).toBe(true)
    expect(verifyHello(pub, sig, new Uint8Array(32), fp, I.network)).toBe(false)
    expect(verifyHello(pub, sig, ch, new Uint8Array(32), I.network)).toBe(false)
    expect(verifyHello(pub, sig, ch, fp, 'other')).toBe(false)
  })
})

describe('frame codec', () => {
  it('round-trips every frame type (property)', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        const body = encodeFrameBody(f)
        const back = normalise(decodeFrameBody(body, { maxBatch: 1000 }))
        expect(plain(back)).toEqual(plain(f))
        expect(toHex(encodeFrameBody(back))).toBe(toHex(body))
      }),
      { numRuns: 300 },
    )
  })

  it('the frame reader returns the same frames however the stream is cut (property)', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 5 }), fc.array(fc.nat({ max: 200 }), { maxLength: 20 }), (frames, cuts) => {
        const stream = core.concatBytes(...frames.map(encodeFrame))
        const reader = new FrameReader(64 * 1024 * 1024)
        const out: Uint8Array[] = []
        let off = 0
        for (const c of cuts) {
          out.push(...reader.push(stream.subarray(off, Math.min(stream.byteLength, off + c))))
          off = Math.min(stream.byteLength, off + c)
        }
        out.push(...reader.push(stream.subarray(off)))
        expect(out.map(toHex)).toEqual(frames.map((f) => toHex(encodeFrameBody(f))))
        expect(reader.buffered).toBe(0)
      }),
      { numRuns: 200 },
    )
  })

  it('refuses a too-long length prefix before any body arrives, and a zero-length frame', () => {
    const r = new FrameReader(1024)
    expect(r.push(Uint8Array.of(0, 0, 4))).toEqual([])
    expect(codeOf(() => r.push(Uint8Array.of(1)))).toBe('FRAME_TOO_LARGE')
    expect(new FrameReader(1025).push(Uint8Array.of(0, 0, 4, 1))).toEqual([])
    expect(codeOf(() => new FrameReader(1024).push(Uint8Array.of(0, 0, 0, 0)))).toBe('BAD_FRAME')
    expect(codeOf(() => decodeFrameBody(new Uint8Array(2048), { maxFrameBytes: 1024 }))).toBe('FRAME_TOO_LARGE')
  })

  it('decodes strictly: version, type, arity, canonical form, field shapes', () => {
    const key = testKey(1)
    const enc = (v: core.CborValue) => encodeCbor(v)
    expect(codeOf(() => decodeFrameBody(enc([2, 1, new Uint8Array(32), new Uint8Array(64)])))).toBe('UNSUPPORTED_VERSION')
    expect(codeOf(() => decodeFrameBody(enc([1, 8])))).toBe('BAD_FRAME')
    expect(codeOf(() => decodeFrameBody(enc([1, 1, new Uint8Array(32)])))).toBe('BAD_FRAME')
    expect(codeOf(() => decodeFrameBody(enc([1, 1, new Uint8Array(31), new Uint8Array(64)])))).toBe('BAD_FRAME')
    expect(codeOf(() => decodeFrameBody(enc({ a: 1 })))).toBe('BAD_FRAME')
    // non-canonical: 1 encoded in two bytes
    expect(codeOf(() => decodeFrameBody(Uint8Array.of(0x82, 0x18, 0x01, 0x07)))).toBe('BAD_FRAME')
    // trailing bytes
    expect(codeOf(() => decodeFrameBody(core.concatBytes(enc([1, 7, []]), Uint8Array.of(0))))).toBe('BAD_FRAME')
    // welcome with an extra key, a non-boolean
    expect(codeOf(() => decodeFrameBody(enc([1, 2, { deviceId: 'a', registered: true, nextSeq: 0, x: 1 }])))).toBe('BAD_FRAME')
    expect(codeOf(() => decodeFrameBody(enc([1, 2, { deviceId: 'a', registered: 1, nextSeq: 0 }])))).toBe('BAD_FRAME')
    // ack: accepted with a code, rejected without one, unknown status
    expect(codeOf(() => decodeFrameBody(enc([1, 4, 1, [[new Uint8Array(32), 0, 'REPLAY']]])))).toBe('BAD_FRAME')
    expect(codeOf(() => decodeFrameBody(enc([1, 4, 1, [[new Uint8Array(32), 2, '']]])))).toBe('BAD_FRAME')
    expect(codeOf(() => decodeFrameBody(enc([1, 4, 1, [[new Uint8Array(32), 3, '']]])))).toBe('BAD_FRAME')
    expect(codeOf(() => decodeFrameBody(enc([1, 6, 'lower case', 'x'])))).toBe('BAD_FRAME')
    // batch limit
    const txs = [makeTx(key, 0), makeTx(key, 1), makeTx(key, 2)]
    const submit = encodeFrameBody({ type: 'submit', batchId: 9, txs })
    expect(codeOf(() => decodeFrameBody(submit, { maxBatch: 2 }))).toBe('BATCH_TOO_LARGE')
    // the encoder refuses what the decoder would
    expect(codeOf(() => encodeFrameBody({ type: 'error', code: 'not a code', message: '' }))).toBe('BAD_FRAME')
  })

  it('the encoder refuses acks and receipts the decoder would refuse (checked on their fields)', () => {
    const id = new Uint8Array(32)
    const ack = (results: unknown[]) => () => encodeFrameBody({ type: 'ack', batchId: 1, results } as never)
    expect(codeOf(ack([{ txId: id, status: 'accepted', code: 'REPLAY' }]))).toBe('BAD_FRAME')
    expect(codeOf(ack([{ txId: id, status: 'rejected', code: '' }]))).toBe('BAD_FRAME')
    expect(codeOf(ack([{ txId: id, status: 'toString', code: '' }]))).toBe('BAD_FRAME')
    expect(codeOf(ack([{ txId: new Uint8Array(31), status: 'accepted', code: '' }]))).toBe('BAD_FRAME')
    expect(codeOf(() => encodeFrameBody({ type: 'ack', batchId: -1, results: [] }))).toBe('BAD_FRAME')
    const receipt = { type: 'receipt' as const, txId: id, height: 3, blockHash: id, chainpoint: '{}' }
    expect(codeOf(() => encodeFrameBody({ ...receipt, blockHash: new Uint8Array(33) }))).toBe('BAD_FRAME')
    expect(codeOf(() => encodeFrameBody({ ...receipt, height: 1.5 }))).toBe('BAD_FRAME')
    expect(codeOf(() => encodeFrameBody({ ...receipt, chainpoint: 'x'.repeat(1024 * 1024 + 1) }))).toBe('BAD_FRAME')
    // What it accepts decodes to the same frame.
    const good = { type: 'ack' as const, batchId: 7, results: [{ txId: id, status: 'rejected' as const, code: 'REPLAY' }] }
    expect(decodeFrameBody(encodeFrameBody(good))).toEqual(good)
    expect(decodeFrameBody(encodeFrameBody(receipt))).toEqual(receipt)
  })

  it('acks and receipts are written directly: the same bytes as the codec encoding their CBOR value; encodeFrames = the frames concatenated (property)', () => {
    const status = { accepted: 0, duplicate: 1, rejected: 2 }
    const generic = (f: IngestFrame): Uint8Array => {
      if (f.type === 'ack') return encodeCbor([1, 4, f.batchId, f.results.map((r) => [r.txId, status[r.status], r.code])])
      if (f.type === 'receipt') return encodeCbor([1, 5, f.txId, f.height, f.blockHash, f.chainpoint])
      throw new Error(f.type)
    }
    const edge = fc.constantFrom(0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER)
    const quick = fc.oneof(
      fc.record({ type: fc.constant('ack' as const), batchId: fc.oneof(u, edge), results: fc.array(ackArb, { maxLength: 30 }) }),
      fc.record({ type: fc.constant('receipt' as const), txId: bytes(32), height: fc.oneof(u, edge), blockHash: bytes(32), chainpoint: fc.oneof(text(2000), fc.string({ unit: 'grapheme', maxLength: 300 })) }),
    )
    fc.assert(
      fc.property(quick, (f) => {
        const body = generic(f)
        expect(toHex(encodeFrameBody(f))).toBe(toHex(body))
        expect(toHex(encodeFrame(f))).toBe(toHex(withLengthPrefix(body)))
      }),
      { numRuns: 300 },
    )
    fc.assert(
      fc.property(fc.array(fc.oneof(quick, frameArb), { maxLength: 6 }), (frames) => {
        expect(toHex(core.encodeFrames(frames))).toBe(frames.map((f) => toHex(encodeFrame(f))).join(''))
      }),
      { numRuns: 100 },
    )
    // A frame the decoder would refuse is refused in a list too.
    const id = new Uint8Array(32)
    expect(codeOf(() => core.encodeFrames([{ type: 'receipt', txId: id, height: 1, blockHash: id, chainpoint: '{}' }, { type: 'receipt', txId: id, height: -1, blockHash: id, chainpoint: '{}' }]))).toBe('BAD_FRAME')
  })

  it('a submit is read directly (header by hand, each tx by the direct tx reader): the same frame or error as the general decoder (property)', () => {
    const outcome = (fn: () => DecodedIngestFrame) => {
      try {
        const f = fn()
        return plain(f.type === 'submit' ? { ...f, items: f.items.map((i) => (i.ok ? { tx: i.tx } : { code: i.error.code, message: i.error.message })) } : f)
      } catch (err) {
        return { threw: (err as IngestWireError).code, message: (err as Error).message }
      }
    }
    const txValue = transactionArb.map((t) => [[core.txBodyToCbor(t.body), t.signature], t.payload])
    // Txs with a wrong field, and items that are no tx at all: each becomes a BAD_TX item (or the frame fails) alike.
    const junk = fc.oneof(
      txValue.map((v) => [[(v[0] as unknown[])[0], new Uint8Array(63)], v[1]]),
      txValue.map((v) => [v[0]]),
      txValue.map((v) => [[[...((v[0] as unknown[])[0] as unknown[]).slice(0, 8), { a: 5 }], (v[0] as unknown[])[1]], v[1]]),
      fc.constantFrom(5, 'x', new Uint8Array(3), [], [1, 2], null, true),
    )
    const frame = fc.tuple(fc.oneof(u, fc.constantFrom(0, 24, 2 ** 32, Number.MAX_SAFE_INTEGER)), fc.array(fc.oneof({ weight: 3, arbitrary: txValue }, { weight: 1, arbitrary: junk }), { maxLength: 6 }))
    fc.assert(
      fc.property(frame, fc.integer({ min: 1, max: 8 }), ([batchId, list], maxBatch) => {
        const body = encodeCbor([1, 3, batchId, list] as never)
        expect(outcome(() => decodeFrameBody(body, { maxBatch }))).toEqual(outcome(() => core.decodeFrameBodyGeneral(body, { maxBatch })))
      }),
      { numRuns: 300 },
    )
    // A decoded tx keeps its encodings: the gateway's signature check and txId encode nothing again.
    const tx = makeTx(testKey(1), 7)
    const body = encodeFrameBody({ type: 'submit', batchId: 1, txs: [tx] })
    const decoded = decodeFrameBody(body)
    if (decoded.type !== 'submit') throw new Error(`expected a submit frame, got ${decoded.type}`)
    const got = decoded.items[0]
    if (!got.ok) throw got.error
    expect(toHex(core.encodeStrippedTx(got.tx))).toBe(toHex(core.encodeStrippedTx(tx)))
    expect(core.txIdHex(got.tx)).toBe(core.txIdHex(tx))
  })

  it('a malformed tx in a submit is rejected alone; the others decode', () => {
    const key = testKey(2)
    const good = [makeTx(key, 0), makeTx(key, 1)]
    const cbor = (tx: Transaction) => core.decodeCbor(core.encodeTransaction(tx))
    const badKind = cbor(makeTx(key, 5)) as core.CborValue[]
    ;((badKind[0] as core.CborValue[])[0] as core.CborValue[])[2] = 'nonsense'
    const body = encodeCbor([1, 3, 4, [cbor(good[0]), badKind, 'not a tx', cbor(good[1])]])
    const f = decodeFrameBody(body)
    if (f.type !== 'submit') throw new Error('expected a submit')
    expect(f.items.map((i) => i.ok)).toEqual([true, false, false, true])
    expect(f.items.map((i) => (i.ok ? core.txIdHex(i.tx) : i.error.code))).toEqual([core.txIdHex(good[0]), 'BAD_TX', 'BAD_TX', core.txIdHex(good[1])])
  })

  it('signHello/verifyHello bind the answer to challenge, certificate and network', () => {
    const key = testKey(3)
    const ch = new Uint8Array(32).fill(7)
    const fp = new Uint8Array(32).fill(9)
    const sig = signHello(key.seed, ch, fp, 'net')
    expect(verifyHello(key.publicKey, sig, ch, fp, 'net')).toBe(true)
    expect(verifyHello(testKey(4).publicKey, sig, ch, fp, 'net')).toBe(false)
    expect(codeOf(() => signHello(key.seed, new Uint8Array(31), fp, 'net'))).toBe('BAD_HELLO')
  })
})

describe('frame decoder fuzz', () => {
  const known = (err: unknown) => err instanceof IngestWireError && (INGEST_CODES as readonly string[]).includes(err.code)
  const seeds = Object.values(fixture.frames).map((h) => fromHex(h).subarray(4))

  it('random bytes: a frame or an IngestWireError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => {
        try {
          decodeFrameBody(b)
        } catch (err) {
          expect(known(err), String(err)).toBe(true)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('mutated vector frames (bit flips, truncation, splices): a frame or an IngestWireError', () => {
    const mutation = fc.tuple(
      fc.nat({ max: seeds.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }),
      fc.option(fc.nat()),
      fc.uint8Array({ maxLength: 16 }),
    )
    fc.assert(
      fc.property(mutation, ([i, flips, cut, tail]) => {
        const b = new Uint8Array(seeds[i])
        for (const [pos, val] of flips) b[pos % b.byteLength] = val
        const m = core.concatBytes(cut === null ? b : b.subarray(0, cut % (b.byteLength + 1)), tail)
        try {
          const f = decodeFrameBody(m)
          // whatever decodes re-encodes to the same bytes (no two encodings of one frame)
          if (f.type !== 'submit' || f.items.every((x) => x.ok)) expect(toHex(encodeFrameBody(normalise(f)))).toBe(toHex(m))
        } catch (err) {
          expect(known(err), String(err)).toBe(true)
        }
        // and through the stream reader, with the length prefix
        try {
          for (const body of new FrameReader(1 << 20).push(withLengthPrefix(m))) decodeFrameBody(body)
        } catch (err) {
          expect(known(err), String(err)).toBe(true)
        }
      }),
      { numRuns: 3000 },
    )
  })
})

describe('provenCanonical (the frame decoder skips the re-encoding check only for what it proves)', () => {
  /** The codec's verdict: decodes and re-encodes to the same bytes. */
  const codecAccepts = (b: Uint8Array): boolean => {
    try {
      core.decodeCbor(b)
      return true
    } catch {
      return false
    }
  }
  const seeds = Object.values(fixture.frames).map((h) => fromHex(h).subarray(4))
  const cborValue: fc.Arbitrary<core.CborValue> = fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.maxSafeInteger(),
      fc.string({ maxLength: 30 }),
      fc.string({ unit: 'binary', maxLength: 8 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.constantFrom(true, false, null),
      fc.array(tie('v'), { maxLength: 4 }),
      fc.dictionary(fc.string({ maxLength: 6 }), tie('v'), { maxKeys: 4 }),
    ),
  })).v as fc.Arbitrary<core.CborValue>

  it('every vector frame and the frames a device sends are proven (the fast path is the common path)', () => {
    for (const s of seeds) expect(core.provenCanonical(s)).toBe(true)
    const key = testKey(5)
    const txs = Array.from({ length: 20 }, (_, i) => makeTx(key, i, new Uint8Array(i * 37).fill(i)))
    expect(core.provenCanonical(encodeFrameBody({ type: 'submit', batchId: 3, txs }))).toBe(true)
    expect(core.provenCanonical(encodeFrameBody({ type: 'receipt-ack', txIds: txs.map((t) => core.txId(t)) }))).toBe(true)
    expect(core.provenCanonical(encodeFrameBody({ type: 'hello', publicKey: key.publicKey, signature: new Uint8Array(64) }))).toBe(true)
  })

  it('proven implies the codec accepts and decodes the same (random values, mutated encodings, mutated frames)', () => {
    const mutated = fc.tuple(
      fc.oneof(cborValue.map((v) => encodeCbor(v)), fc.nat({ max: seeds.length - 1 }).map((i) => seeds[i])),
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 3 }),
      fc.option(fc.nat()),
      fc.uint8Array({ maxLength: 4 }),
    )
    fc.assert(
      fc.property(mutated, ([enc, flips, cut, tail]) => {
        const b = new Uint8Array(enc)
        for (const [pos, val] of flips) if (b.byteLength > 0) b[pos % b.byteLength] = val
        const m = core.concatBytes(cut === null ? b : b.subarray(0, cut % (b.byteLength + 1)), tail)
        if (core.provenCanonical(m)) {
          expect(codecAccepts(m), toHex(m)).toBe(true)
          expect(toHex(encodeCbor(core.decodeCbor(m)))).toBe(toHex(m))
        }
      }),
      { numRuns: 4000 },
    )
  })

  it('non-canonical and out-of-subset bytes are not proven, and frames made of them are refused', () => {
    const frame = (inner: number[]) => Uint8Array.of(0x84, 0x01, 0x07, 0x00, ...inner) // [1, 7, 0, <inner>]
    const cases: Array<[string, number[]]> = [
      ['1 in two bytes', [0x18, 0x01]],
      ['300 in four bytes', [0x1a, 0x00, 0x00, 0x01, 0x2c]],
      ['2^32 in eight bytes with a zero high word', [0x1b, 0, 0, 0, 0, 0, 0, 0, 5]],
      ['2^53 (beyond safe)', [0x1b, 0x00, 0x20, 0, 0, 0, 0, 0, 0]],
      ['-2^53 (beyond safe)', [0x3b, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
      ['float 1.0', [0xf9, 0x3c, 0x00]],
      ['float -0.0', [0xf9, 0x80, 0x00]],
      ['undefined', [0xf7]],
      ['tag', [0xc1, 0x00]],
      ['indefinite array', [0x9f, 0x01, 0xff]],
      ['unsorted map', [0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x01]],
      ['map keys: longer key first', [0xa2, 0x62, 0x61, 0x61, 0x01, 0x61, 0x62, 0x01]],
      ['duplicate map key', [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]],
      ['integer map key', [0xa1, 0x01, 0x01]],
      ['__proto__ key', [0xa1, 0x69, ...Buffer.from('__proto__'), 0x01]],
      ['invalid UTF-8', [0x62, 0xc3, 0x28]],
      ['byte string past the end', [0x45, 0x01]],
    ]
    for (const [name, inner] of cases) {
      const b = frame(inner)
      expect(core.provenCanonical(b), name).toBe(false)
      // The codec decides these: the canonical-form ones among them (none here but the UTF-8 text) fail the
      // frame's shape check later, the others are refused as non-canonical or malformed.
      if (!codecAccepts(b)) expect(codeOf(() => decodeFrameBody(b)), name).toBe('BAD_FRAME')
    }
    // Nesting: 16 levels proven, 17 not (the codec refuses it too).
    const nest = (d: number) => Uint8Array.of(...Array(d).fill(0x81), 0x00)
    expect(core.provenCanonical(nest(16))).toBe(true)
    expect(core.provenCanonical(nest(17))).toBe(false)
    expect(codecAccepts(nest(17))).toBe(false)
    // Sorted keys (shorter first, then bytewise) and non-ASCII text: the first proven, the second left to the codec.
    expect(core.provenCanonical(encodeCbor({ b: 1, a: 2, aa: 3 }))).toBe(true)
    expect(core.provenCanonical(encodeCbor(['é']))).toBe(false)
    expect(codecAccepts(encodeCbor(['é']))).toBe(true)
  })
})
