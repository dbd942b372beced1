import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { equalBytes } from '../src/bytes.js'

describe('equalBytes', () => {
  it("answers as Buffer's memcmp does, for short arrays (loop) and long ones, views at offsets included", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.nat({ max: 8 }),
        fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { nil: undefined }),
        fc.boolean(),
        (bytes, offset, change, shorten) => {
          // b: the same bytes in a view at `offset` of a larger buffer, maybe one byte changed or one shorter.
          const host = new Uint8Array(offset + bytes.byteLength + 3)
          host.set(bytes, offset)
          let b = host.subarray(offset, offset + bytes.byteLength)
          if (change !== undefined && bytes.byteLength > 0) b[change[0] % bytes.byteLength] = change[1]
          if (shorten && b.byteLength > 0) b = b.subarray(0, b.byteLength - 1)
          const want = Buffer.compare(Buffer.from(bytes), Buffer.from(b)) === 0
          expect(equalBytes(bytes, b)).toBe(want)
          expect(equalBytes(b, bytes)).toBe(want)
        },
      ),
      { numRuns: 2000 },
    )
  })
})
