import { describe, expect, it } from 'vitest'
import { CodecError, decodeVote, encodeCbor, encodeVote, generateKeyPair, signVote, verifyVote } from '../src/index.js'

describe('votes (quorum co-signatures)', () => {
  const key = generateKeyPair()
  const hash = new Uint8Array(32).fill(7)

  it('round-trips and verifies; a changed block hash or signer does not verify', () => {
    const v = signVote('net', 5, hash, key)
    const back = decodeVote(encodeVote(v))
    expect(back).toEqual(v)
    expect(verifyVote(back)).toBe(true)
    expect(verifyVote({ ...back, blockHash: new Uint8Array(32).fill(8) })).toBe(false)
    expect(verifyVote({ ...back, signer: generateKeyPair().publicKey })).toBe(false)
  })

  it('refuses other versions, shapes and sizes with CodecError', () => {
    const v = signVote('net', 5, hash, key)
    expect(() => decodeVote(encodeCbor([2, 'net', 5, hash, v.signer, v.signature]))).toThrow(CodecError)
    expect(() => decodeVote(encodeCbor([1, 'net', 5, hash.subarray(1), v.signer, v.signature]))).toThrow(CodecError)
    expect(() => decodeVote(encodeCbor([1, 'net', 5, hash, v.signer]))).toThrow(CodecError)
    expect(() => decodeVote(new Uint8Array(300))).toThrow(CodecError)
  })
})
