import { createBlock, generateKeyPair, signHeader, ZERO_HASH } from '@profichain/core'
import { createGenesis } from '@profichain/consensus'
import { describe, expect, it } from 'vitest'
import { checkQuorumShape, defaultQuorumThreshold, finality } from '../src/index.js'

describe('quorum threshold', () => {
  it('defaults to ⌊2n/3⌋+1, always more than half and at most all', () => {
    expect([1, 2, 3, 4, 5, 7, 10].map(defaultQuorumThreshold)).toEqual([1, 2, 3, 3, 4, 5, 7])
    for (let n = 1; n <= 32; n++) expect(checkQuorumShape(n, undefined)).toBe(defaultQuorumThreshold(n))
  })

  it('refuses an unsafe threshold or validator count as a usage error', () => {
    expect(() => checkQuorumShape(4, 2)).toThrow(/threshold 2 is not safe for 4 validators.*3\.\.4/)
    expect(() => checkQuorumShape(4, 5)).toThrow(/not safe/)
    expect(() => checkQuorumShape(0, undefined)).toThrow(/--validators must be 1\.\.32/)
    expect(checkQuorumShape(5, 3)).toBe(3)
  })
})

describe('verify: final line', () => {
  const keys = [0, 1, 2, 3].map(() => generateKeyPair())
  const outsider = generateKeyPair()
  const genesis = createGenesis({ network: 'q', validators: keys, consensus: { type: 'quorum', threshold: 3 } })
  const { header } = createBlock({ network: 'q', height: 1, timestamp: 1, prevHash: ZERO_HASH, producer: keys[0].publicKey, txs: [] })
  const signedBy = (...ks: typeof keys) => ({ ...header, signatures: ks.map((k) => signHeader(header, k)) })

  it('counts distinct validator signatures against the threshold', () => {
    expect(finality(genesis, signedBy(keys[0], keys[1], keys[2])).what).toBe('final: yes (3 of 4 validator signatures, threshold 3)')
    expect(finality(genesis, signedBy(...keys)).what).toBe('final: yes (4 of 4 validator signatures, threshold 3)')
    // A non-validator's signature and a repeated one do not count.
    expect(finality(genesis, signedBy(keys[0], keys[1], outsider, keys[1])).what).toBe('final: no (2 of 4 validator signatures, threshold 3)')
    const r = finality(genesis, signedBy(keys[0]))
    expect(r).toMatchObject({ ok: true, info: true, what: 'final: no (1 of 4 validator signatures, threshold 3)' })
  })

  it('says not applicable without co-signatures (authority)', () => {
    const g = createGenesis({ network: 'q', validators: [keys[0]] })
    expect(finality(g, signedBy(keys[0])).what).toMatch(/^final: not applicable \(consensus "authority"/)
  })
})
