import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  cborHead,
  cborHeadAt,
  cborHeadSize,
  writeCborHead,
  cborHeadEnd,
  CodecError,
  decodeBlock,
  decodeCbor,
  decodeHeader,
  decodeStrippedTx,
  decodeTransaction,
  encodeBlock,
  encodeCbor,
  encodeHeader,
  encodeStrippedTx,
  encodeTransaction,
  encodeTxBody,
  fromHex,
  toHex,
  sha256,
  txBodyFromCbor,
  txBodyToCbor,
  txId,
} from '../src/index.js'
import { blockArb, headerArb, strippedTxArb, transactionArb, txBodyArb } from './arbitraries.js'

describe('codec round trips (fast-check)', () => {
  it('TxBody', () => {
    fc.assert(
      fc.property(txBodyArb, (b) => {
        const enc = encodeTxBody(b)
        const back = txBodyFromCbor(decodeCbor(enc))
        expect(back).toEqual(b)
        expect(encodeTxBody(back)).toEqual(enc)
      }),
      { numRuns: 200 },
    )
  })
  it('StrippedTx', () => {
    fc.assert(
      fc.property(strippedTxArb, (t) => {
        const enc = encodeStrippedTx(t)
        const back = decodeStrippedTx(enc)
        expect(back).toEqual(t)
        expect(encodeStrippedTx(back)).toEqual(enc)
      }),
      { numRuns: 200 },
    )
  })
  it('Transaction', () => {
    fc.assert(
      fc.property(transactionArb, (t) => {
        const enc = encodeTransaction(t)
        const back = decodeTransaction(enc)
        expect(back).toEqual(t)
        expect(encodeTransaction(back)).toEqual(enc)
      }),
      { numRuns: 200 },
    )
  })
  it('BlockHeader', () => {
    fc.assert(
      fc.property(headerArb, (h) => {
        const enc = encodeHeader(h)
        const back = decodeHeader(enc)
        expect(back).toEqual(h)
        expect(encodeHeader(back)).toEqual(enc)
      }),
      { numRuns: 200 },
    )
  })
  it('Block', () => {
    fc.assert(
      fc.property(blockArb, (b) => {
        const enc = encodeBlock(b)
        const back = decodeBlock(enc)
        expect(back).toEqual(b)
        expect(encodeBlock(back)).toEqual(enc)
      }),
      { numRuns: 100 },
    )
  })
  it('metadata key "__proto__" stays an own entry through decode (regression)', () => {
    const metadata = JSON.parse('{"__proto__":"x","a":"b"}') as Record<string, string>
    const body = {
      version: 1,
      network: 'n',
      kind: 'record' as const,
      origin: new Uint8Array(32),
      seq: 0,
      timestamp: 0,
      payloadHash: new Uint8Array(32),
      payloadSize: 0,
      metadata,
    }
    const enc = encodeTxBody(body)
    expect(Object.keys(txBodyFromCbor(decodeCbor(enc)).metadata).sort()).toEqual(['__proto__', 'a'])
    expect(encodeTxBody(txBodyFromCbor(decodeCbor(enc)))).toEqual(enc)
  })
})

type Decoder = (b: Uint8Array) => unknown
const decoders: Array<[string, Decoder, fc.Arbitrary<Uint8Array>]> = [
  ['decodeStrippedTx', decodeStrippedTx, strippedTxArb.map(encodeStrippedTx)],
  ['decodeTransaction', decodeTransaction, transactionArb.map(encodeTransaction)],
  ['decodeHeader', decodeHeader, headerArb.map(encodeHeader)],
  ['decodeBlock', decodeBlock, blockArb.map(encodeBlock)],
  [
    'decodeCbor',
    (b) => decodeCbor(b),
    fc.oneof(strippedTxArb.map(encodeStrippedTx), headerArb.map(encodeHeader)),
  ],
]

/** Run a decoder: it may succeed only on canonical bytes (checked by the caller), else must throw CodecError. */
function outcome(decode: Decoder, bytes: Uint8Array): 'ok' | 'codec-error' {
  try {
    decode(bytes)
    return 'ok'
  } catch (err) {
    if (err instanceof CodecError) return 'codec-error'
    throw new Error(
      `decoder threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message} on ${toHex(bytes).slice(0, 200)}`,
    )
  }
}

/** What the decoder returned must re-encode to exactly the input (no trailing bytes, canonical form). */
function reencodes(name: string, bytes: Uint8Array): boolean {
  switch (name) {
    case 'decodeStrippedTx':
      return toHex(encodeStrippedTx(decodeStrippedTx(bytes))) === toHex(bytes)
    case 'decodeTransaction':
      return toHex(encodeTransaction(decodeTransaction(bytes))) === toHex(bytes)
    case 'decodeHeader':
      return toHex(encodeHeader(decodeHeader(bytes))) === toHex(bytes)
    case 'decodeBlock':
      return toHex(encodeBlock(decodeBlock(bytes))) === toHex(bytes)
    default:
      return toHex(encodeCbor(decodeCbor(bytes))) === toHex(bytes)
  }
}

describe('decoders only ever throw CodecError', () => {
  for (const [name, decode, validArb] of decoders) {
    it(`${name}: random bytes`, () => {
      fc.assert(
        fc.property(
          fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 2048 })),
          (bytes) => {
            if (outcome(decode, bytes) === 'ok') expect(reencodes(name, bytes)).toBe(true)
          },
        ),
        { numRuns: 400 },
      )
    })
    it(`${name}: bit-flipped valid encodings`, () => {
      fc.assert(
        fc.property(validArb, fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), (enc, bits) => {
          const m = enc.slice()
          for (const bit of bits) m[(bit >> 3) % m.length] ^= 1 << (bit & 7)
          if (outcome(decode, m) === 'ok') expect(reencodes(name, m)).toBe(true)
        }),
        { numRuns: 300 },
      )
    })
    it(`${name}: truncated and extended valid encodings`, () => {
      fc.assert(
        fc.property(validArb, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), (enc, cut, extra) => {
          expect(outcome(decode, enc)).toBe('ok')
          expect(outcome(decode, enc.subarray(0, cut % enc.length))).toBe('codec-error')
          const longer = new Uint8Array(enc.length + extra.length)
          longer.set(enc)
          longer.set(extra, enc.length)
          expect(outcome(decode, longer)).toBe('codec-error')
        }),
        { numRuns: 200 },
      )
    })
  }
})

describe('deterministic CBOR: non-canonical and disallowed encodings are rejected', () => {
  const rejects = (hex: string) => expect(() => decodeCbor(fromHex(hex))).toThrow(CodecError)
  it('accepts the canonical forms', () => {
    expect(decodeCbor(fromHex('01'))).toBe(1)
    expect(decodeCbor(fromHex('1818'))).toBe(24)
    expect(decodeCbor(fromHex('a261620262616101'))).toEqual({ b: 2, aa: 1 })
  })
  it('integers in a longer form than needed', () => {
    rejects('1801') // 1 as uint8
    rejects('190018') // 24 as uint16
    rejects('1a000000ff') // 255 as uint32
    rejects('1b00000000ffffffff') // as uint64
    rejects('3800') // -1 as int8
  })
  it('byte/text strings and arrays with a long-form length', () => {
    rejects('5801ff')
    rejects('780161')
    rejects('980101')
  })
  it('map keys out of canonical order (shorter encoded key first, then bytewise)', () => {
    expect(toHex(encodeCbor({ aa: 1, b: 2 }))).toBe('a261620262616101')
    rejects('a262616101616202') // "aa" before "b"
    rejects('a2616202616101') // "b" before "a"
  })
  it('duplicate map keys', () => rejects('a2616101616102'))
  it('indefinite lengths', () => {
    rejects('9f01ff')
    rejects('bf616101ff')
    rejects('7f616161ff')
    rejects('5f41ff')
  })
  it('floats, NaN, Infinity, undefined, tags, big integers', () => {
    rejects('f93c00') // 1.0 half
    rejects('fa3f800000')
    rejects('fb3ff0000000000000')
    rejects('f97e00') // NaN
    rejects('f97c00') // Infinity
    rejects('f7') // undefined
    rejects('c11a514b67b0') // tag 1
    rejects('1bffffffffffffffff') // > 2^53
    rejects('1b0020000000000000') // 2^53
  })
  it('trailing bytes and empty input', () => {
    rejects('0100')
    rejects('')
  })
  it('a tx with a long-form seq is rejected even though it decodes', () => {
    const body = {
      version: 1,
      network: 'n',
      kind: 'record' as const,
      origin: new Uint8Array(32),
      seq: 5,
      timestamp: 0,
      payloadHash: new Uint8Array(32),
      payloadSize: 0,
      metadata: {},
    }
    const enc = encodeStrippedTx({ body, signature: new Uint8Array(64) })
    const hex = toHex(enc)
    // [body, sig] → 82 89 01 61 6e 66 'record' 58 20 <32> 05 ...
    const at = hex.indexOf(`5820${'00'.repeat(32)}`) + 4 + 64
    expect(hex.slice(at, at + 2)).toBe('05')
    const longForm = fromHex(`${hex.slice(0, at)}1805${hex.slice(at + 2)}`)
    expect(() => decodeStrippedTx(longForm)).toThrow(CodecError)
  })
  it('wrong structure: unknown version or kind, negative ints, wrong lengths', () => {
    const ok = {
      version: 1,
      network: 'n',
      kind: 'record' as const,
      origin: new Uint8Array(32),
      seq: 0,
      timestamp: 0,
      payloadHash: new Uint8Array(32),
      payloadSize: 0,
      metadata: {},
    }
    const enc = (b: Record<string, unknown>, sig = new Uint8Array(64)) =>
      encodeCbor([
        [
          b.version,
          b.network,
          b.kind,
          b.origin,
          b.seq,
          b.timestamp,
          b.payloadHash,
          b.payloadSize,
          b.metadata,
        ],
        sig,
      ] as never)
    expect(() => decodeStrippedTx(enc(ok))).not.toThrow()
    for (const bad of [
      { ...ok, version: 2 },
      { ...ok, kind: 'other' },
      { ...ok, seq: -1 },
      { ...ok, origin: new Uint8Array(31) },
      { ...ok, payloadHash: new Uint8Array(33) },
      { ...ok, metadata: { a: 1 } },
      { ...ok, metadata: [] },
      { ...ok, network: 'x'.repeat(65) },
    ]) {
      expect(() => decodeStrippedTx(enc(bad)), JSON.stringify(Object.keys(bad))).toThrow(CodecError)
    }
    expect(() => decodeStrippedTx(enc(ok, new Uint8Array(63)))).toThrow(CodecError)
  })
  it('deep nesting is rejected, not a crash', () => {
    rejects(`${'81'.repeat(5000)}01`)
    rejects(`${'81'.repeat(20)}01`)
  })
})

describe('decoders remember the inner encodings', () => {
  it('a decoded tx gives the same body, stripped and full encodings and txId as a fresh encoding', () => {
    fc.assert(
      fc.property(transactionArb, (t) => {
        const enc = encodeTransaction(t)
        const back = decodeTransaction(enc)
        const fresh = { body: { ...t.body }, signature: t.signature, payload: t.payload }
        expect(toHex(encodeTxBody(back.body))).toBe(toHex(encodeCbor(txBodyToCbor(fresh.body))))
        expect(toHex(encodeStrippedTx(back))).toBe(toHex(encodeStrippedTx({ body: fresh.body, signature: fresh.signature })))
        expect(toHex(txId(back))).toBe(toHex(sha256(encodeCbor([txBodyToCbor(fresh.body), fresh.signature]))))
        const s = decodeStrippedTx(encodeStrippedTx(t))
        expect(toHex(encodeTxBody(s.body))).toBe(toHex(encodeCbor(txBodyToCbor(fresh.body))))
        expect(toHex(txId(s))).toBe(toHex(txId(fresh)))
      }),
      { numRuns: 200 },
    )
  })
})

describe('cborHeadAt (the direct decoders\' one head reader)', () => {
  it('reads what encodeCbor writes, for every safe integer, and leaves the end in cborHeadEnd', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.nat(3), (n, pad) => {
        const enc = encodeCbor(n)
        const b = new Uint8Array(pad + enc.byteLength)
        b.set(enc, pad)
        expect(cborHeadAt(b, pad)).toBe(n)
        expect(cborHeadEnd).toBe(b.byteLength)
      }),
    )
  })

  it('refuses non-shortest, reserved, indefinite, cut-off and unsafe heads, as the codec does', () => {
    const refused = [
      [0x18, 0x17], // 23 in one extra byte
      [0x19, 0x00, 0xff], // 255 in two
      [0x1a, 0x00, 0x00, 0xff, 0xff], // 65,535 in four
      [0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], // 2^32 - 1 in eight
      [0x1b, 0x00, 0x20, 0, 0, 0, 0, 0, 0], // 2^53: beyond safe integers
      [0x1c], [0x1d], [0x1e], [0x1f], // reserved, indefinite
      [0x19, 0x01], // cut off
      [],
    ]
    for (const bytes of refused) {
      const b = Uint8Array.from(bytes)
      expect(cborHeadAt(b, 0), `head ${Buffer.from(b).toString('hex')}`).toBe(-1)
      if (b.byteLength > 0 && (b[0] & 31) < 28) expect(() => decodeCbor(b)).toThrow(CodecError)
    }
  })
})

describe('writeCborHead / cborHeadSize (the direct encoders\' one head writer)', () => {
  it('writes the same bytes as cborHead, of cborHeadSize bytes, read back by cborHeadAt', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 6 }), fc.oneof(fc.nat(300), fc.nat(70_000), fc.maxSafeNat()), (major, n) => {
        const out = new Uint8Array(12)
        const end = writeCborHead(out, 2, major, n)
        expect(end - 2).toBe(cborHeadSize(n))
        expect(toHex(out.subarray(2, end))).toBe(toHex(cborHead(major, n)))
        expect(cborHeadAt(out, 2)).toBe(n)
        expect(cborHeadEnd).toBe(end)
      }),
    )
  })
})
