import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
// @ts-expect-error -- a plain .mjs build helper without types
import { Buffer as Shim } from '../../../scripts/browser/buffer-shim.mjs'

// The browser bundle runs @profichain/core on this shim instead of Node's Buffer: it must agree with Node's
// for every method core uses (hex/base64 codecs, concat, compare, equals, byteLength).
type ShimBuffer = Uint8Array & { toString(enc?: string): string; equals(o: Uint8Array): boolean }
const S = Shim as unknown as {
  from(v: unknown, a?: unknown, b?: number): ShimBuffer
  concat(p: Uint8Array[]): ShimBuffer
  compare(a: Uint8Array, b: Uint8Array): number
  byteLength(s: string): number
}

describe('buffer shim (browser bundle) agrees with Node Buffer', () => {
  it('hex and base64 round trips, views over ArrayBuffers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(10), (bytes, cut) => {
        const view = new Uint8Array(bytes.buffer, Math.min(cut, bytes.length), bytes.length - Math.min(cut, bytes.length))
        const n = Buffer.from(view.buffer, view.byteOffset, view.byteLength)
        const s = S.from(view.buffer, view.byteOffset, view.byteLength)
        for (const enc of ['hex', 'base64', 'base64url']) {
          expect(s.toString(enc)).toBe(n.toString(enc as BufferEncoding))
          expect([...S.from(n.toString(enc as BufferEncoding), enc)]).toEqual([...n])
        }
      }),
    )
  })

  it('concat, compare, equals and byteLength', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 5 }), fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), fc.string({ unit: 'binary' }), (parts, a, b, str) => {
        expect([...S.concat(parts)]).toEqual([...Buffer.concat(parts)])
        expect(S.compare(a, b)).toBe(Buffer.compare(a, b))
        expect(S.from(a).equals(b)).toBe(Buffer.from(a).equals(b))
        expect(S.byteLength(str)).toBe(Buffer.byteLength(str))
        expect([...S.from(str)]).toEqual([...Buffer.from(str)])
      }),
    )
  })

  it('invalid hex stops at the first bad pair like Node (core checks isHex before fromHex)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (str) => {
        expect([...S.from(str, 'hex')]).toEqual([...Buffer.from(str, 'hex')])
      }),
    )
  })
})
