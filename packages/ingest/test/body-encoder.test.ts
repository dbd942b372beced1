import { encodeCbor, type TxBody, txBodyToCbor } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import { BodyEncoder } from '../src/body-encoder.js'

// Issue 12: record bodies' CBOR written directly must be exactly the codec's bytes.
const WIDTHS = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]
const TEXTS = ['', 'a', 'b', 'aa', 'line', 'x'.repeat(23), 'y'.repeat(24), 'z'.repeat(255), 'w'.repeat(256), 'ü', 'Grüße/日本/😀', 'v'.repeat(70_000)]

/** A small deterministic PRNG (the failing case can be rerun). */
function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

function bytes(n: number, r: () => number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256))
}

function randomBody(r: () => number): TxBody {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]
  const metadata: Record<string, string> = {}
  const keys = Math.floor(r() * 9)
  for (let i = 0; i < keys; i++) metadata[pick([...TEXTS.slice(0, 11), `k${i}`, 'source', 'path', 'processed', 'contentType'])] = pick(TEXTS)
  return {
    version: pick([1, 0, 24, 300]),
    network: pick(['testnet', 'profichain-main', '', 'n'.repeat(40)]),
    kind: 'record',
    origin: bytes(32, r),
    seq: pick(WIDTHS),
    timestamp: pick([...WIDTHS, Date.now(), 1_764_000_000_000]),
    payloadHash: bytes(32, r),
    payloadSize: pick(WIDTHS),
    metadata,
  }
}

describe('BodyEncoder (issue 12)', () => {
  it('writes exactly the codec bytes for 5,000 random bodies (every head width, non-ASCII and long texts, key orders)', () => {
    const enc = new BodyEncoder()
    const r = rng(12)
    for (let i = 0; i < 5000; i++) {
      const b = randomBody(r)
      const got = enc.encode(b)
      // Compared as bytes (vitest's deep equality walks a 70 KB array element by element).
      expect(got !== undefined && Buffer.compare(got, encodeCbor(txBodyToCbor(b))) === 0, `body ${i}`).toBe(true)
      expect(got?.constructor).toBe(Uint8Array)
    }
  })

  it('the records of a line file: same keys, every line number, in both key orders of the object', () => {
    const enc = new BodyEncoder()
    const r = rng(7)
    const meta = { source: 'file', path: 'exports/a.jsonl', size: '123456', mtime: '1764000000000', contentType: 'application/x-ndjson', lines: '100000', processed: 'exports/a.jsonl' }
    for (const line of [1, 9, 10, 99, 100, 23, 24, 65536, 100000]) {
      for (const metadata of [{ ...meta, line: String(line) }, { line: String(line), ...meta }]) {
        const b: TxBody = { version: 1, network: 'testnet', kind: 'record', origin: bytes(32, r), seq: line * 7, timestamp: 1_764_000_000_000 + line, payloadHash: bytes(32, r), payloadSize: 1024, metadata }
        expect(enc.encode(b)).toEqual(encodeCbor(txBodyToCbor(b)))
      }
    }
  })

  it('declines what the codec would write another way: floats, negatives, unsafe integers, non-string values', () => {
    const enc = new BodyEncoder()
    const r = rng(3)
    const base = randomBody(r)
    for (const bad of [{ seq: 1.5 }, { seq: -1 }, { timestamp: 2 ** 53 }, { payloadSize: Number.NaN }, { metadata: { a: 1 as unknown as string } }]) {
      expect(enc.encode({ ...base, ...bad })).toBeUndefined()
    }
  })
})
