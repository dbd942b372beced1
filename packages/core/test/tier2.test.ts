import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as core from '../src/index.js'
import {
  createNobleTier2Backend,
  createNodeTier2Backend,
  deriveRecordKey,
  openTier2,
  openTier2Tx,
  sealTier2,
  TIER2_ERROR_CODES,
  Tier2Error,
  tier2Header,
  toHex,
} from '../src/index.js'
import { bytes } from './arbitraries.js'
import { testKey } from './helpers.js'

function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(Tier2Error)
    expect(TIER2_ERROR_CODES).toContain((err as Tier2Error).code)
    return (err as Tier2Error).code
  }
  throw new Error('expected a Tier2Error')
}

const epochArb = fc.oneof(fc.nat({ max: 10 }), fc.constant(0xffffffff))
const seqArb = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat())

describe('tier 2', () => {
  it('both backends give identical bytes (property)', () => {
    const a = createNodeTier2Backend()
    const b = createNobleTier2Backend()
    fc.assert(
      fc.property(bytes(32), bytes(12), fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 40 }), (key, nonce, pt, aad) => {
        expect(toHex(a.hkdfSha256(key, aad, pt, 32))).toBe(toHex(b.hkdfSha256(key, aad, pt, 32)))
        expect(toHex(a.hmacSha256(key, pt))).toBe(toHex(b.hmacSha256(key, pt)))
        const ct = a.aesGcmEncrypt(key, nonce, pt, aad)
        expect(toHex(ct)).toBe(toHex(b.aesGcmEncrypt(key, nonce, pt, aad)))
        expect(toHex(b.aesGcmDecrypt(key, nonce, ct, aad) ?? new Uint8Array())).toBe(toHex(pt))
        expect(toHex(a.aesGcmDecrypt(key, nonce, ct, aad) ?? new Uint8Array())).toBe(toHex(pt))
      }),
      { numRuns: 100 },
    )
  })

  it('seal then open round-trips, under both backends (property)', () => {
    for (const backend of [core.createNodeBackend(), core.createNobleBackend()]) {
      core.setCrypto(backend)
      try {
        fc.assert(
          fc.property(bytes(32), bytes(32), epochArb, seqArb, fc.uint8Array({ maxLength: 1000 }), (dataKey, origin, epoch, seq, plaintext) => {
            const s = sealTier2({ dataKey, origin, epoch, seq, plaintext })
            const h = tier2Header(s.metadata)
            expect(h.epoch).toBe(epoch)
            expect(toHex(openTier2({ recordKey: s.recordKey, origin, epoch, seq, commitment: h.commitment, payload: s.payload }))).toBe(toHex(plaintext))
          }),
          { numRuns: 100 },
        )
      } finally {
        core.setCrypto(core.createNodeBackend())
      }
    }
  })

  it('one released key opens one record only: other seqs, epochs, origins refuse it by commitment (property)', () => {
    fc.assert(
      fc.property(bytes(32), bytes(32), epochArb, seqArb, fc.uint8Array({ maxLength: 100 }), fc.nat({ max: 2 }), (dataKey, origin, epoch, seq, plaintext, which) => {
        const target = sealTier2({ dataKey, origin, epoch, seq, plaintext })
        const other = { origin, epoch, seq }
        if (which === 0) other.seq = seq === 0 ? 1 : seq - 1
        else if (which === 1) other.epoch = epoch === 0 ? 1 : epoch - 1
        else other.origin = origin.map((x) => x ^ 1)
        const sibling = sealTier2({ dataKey, ...other, plaintext })
        expect(toHex(sibling.recordKey)).not.toBe(toHex(target.recordKey))
        // the target's key on the sibling record: refused before decrypting
        expect(codeOf(() => openTier2({ recordKey: target.recordKey, ...other, commitment: sibling.commitment, payload: sibling.payload }))).toBe('ERR_TIER2_COMMITMENT')
        // and even with the commitment check bypassed (attacker-chosen header), GCM refuses it
        expect(codeOf(() => openTier2({ recordKey: target.recordKey, ...other, commitment: target.commitment, payload: sibling.payload }))).toBe('ERR_TIER2_DECRYPT')
      }),
      { numRuns: 100 },
    )
  })

  it('a tampered ciphertext, nonce or tag fails authentication (property)', () => {
    fc.assert(
      fc.property(bytes(32), fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (dataKey, plaintext, pos, flip) => {
        const origin = testKey(1).publicKey
        const s = sealTier2({ dataKey, origin, epoch: 1, seq: 5, plaintext })
        const payload = new Uint8Array(s.payload)
        payload[pos % payload.byteLength] ^= flip
        expect(codeOf(() => openTier2({ recordKey: s.recordKey, origin, epoch: 1, seq: 5, commitment: s.commitment, payload }))).toBe('ERR_TIER2_DECRYPT')
        expect(codeOf(() => openTier2({ recordKey: s.recordKey, origin, epoch: 1, seq: 5, commitment: s.commitment, payload: payload.subarray(0, 27) }))).toBe('ERR_TIER2_DECRYPT')
      }),
      { numRuns: 100 },
    )
  })

  it('opens a signed tier-2 tx from its header; refuses headers it cannot read', () => {
    const key = testKey(2)
    const dataKey = new Uint8Array(32).fill(5)
    const s = sealTier2({ dataKey, origin: key.publicKey, epoch: 3, seq: 9, plaintext: core.utf8('secret') })
    const tx = core.createTransaction(key, { network: 'n', seq: 9, payload: s.payload, metadata: { ...s.metadata, a: 'b' } })
    expect(new TextDecoder().decode(openTier2Tx(s.recordKey, tx))).toBe('secret')
    expect(toHex(deriveRecordKey(dataKey, key.publicKey, 3, 9))).toBe(toHex(s.recordKey))
    expect(codeOf(() => tier2Header({}))).toBe('ERR_TIER2_HEADER')
    expect(codeOf(() => tier2Header({ ...s.metadata, tier2: 'rot13/1' }))).toBe('ERR_TIER2_HEADER')
    expect(codeOf(() => tier2Header({ ...s.metadata, 'tier2.epoch': '01' }))).toBe('ERR_TIER2_HEADER')
    expect(codeOf(() => tier2Header({ ...s.metadata, 'tier2.epoch': '4294967296' }))).toBe('ERR_TIER2_HEADER')
    expect(codeOf(() => tier2Header({ ...s.metadata, 'tier2.commit': 'AB'.repeat(32) }))).toBe('ERR_TIER2_HEADER')
    expect(() => sealTier2({ dataKey: new Uint8Array(31), origin: key.publicKey, epoch: 0, seq: 0, plaintext: new Uint8Array() })).toThrow(TypeError)
    expect(() => sealTier2({ dataKey, origin: key.publicKey, epoch: -1, seq: 0, plaintext: new Uint8Array() })).toThrow(TypeError)
  })
})
