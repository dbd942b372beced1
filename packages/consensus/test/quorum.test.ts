import { signHeader } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import { CONSENSUS_ERROR_CODES, type ConsensusErrorCode } from '../src/index.js'
import { createConsensus, createGenesis, type Genesis, genesisBlock, quorum } from '../src/index.js'
import { extend, key, MemChain, T0 } from './helpers.js'

function setup(threshold?: number) {
  const keys = Array.from({ length: 4 }, (_, i) => key(i + 1))
  const genesis: Genesis = createGenesis({
    network: 'q',
    validators: keys,
    blockTimeMs: 1000,
    timestamp: T0,
    consensus: { type: 'quorum', ...(threshold ? { threshold } : {}) },
  })
  const g = genesisBlock(genesis).header
  return { keys, genesis, g, chain: new MemChain(g), c: quorum(genesis) }
}

async function rejects(p: Promise<unknown>, code: ConsensusErrorCode) {
  // Every rule tested here must be a code of the package's union (checked at run time, not only by tsc).
  expect(CONSENSUS_ERROR_CODES).toContain(code)
  await expect(p).rejects.toMatchObject({ name: 'ConsensusError', code })
}

describe('quorum', () => {
  it('defaults to a majority threshold and back-off of half the block time', () => {
    const { genesis, c } = setup()
    expect(genesis.consensus).toEqual({ type: 'quorum', threshold: 3, backoffMs: 500 })
    expect(createConsensus(genesis).type).toBe('quorum')
    expect(c.threshold).toBe(3)
  })

  it('a block is final with threshold distinct validator signatures', async () => {
    const { keys, g, chain, c } = setup()
    let h = await extend(c, chain, g, keys[1], T0 + 1000)
    expect(c.isFinal(h)).toBe(false)
    h = c.cosign(h, keys[2])
    expect(c.isFinal(h)).toBe(false)
    expect(c.cosign(h, keys[2])).toBe(h) // already signed: unchanged
    h = c.cosign(h, keys[3])
    expect(c.isFinal(h)).toBe(true)
    await c.validateHeader(h, g, chain, T0 + 1000)
    h = c.cosign(h, keys[0])
    expect(c.votes(h)).toBe(4)
    await c.validateHeader(h, g, chain, T0 + 1000)
  })

  it('threshold n (unanimity)', async () => {
    const { keys, g, chain, c } = setup(4)
    let h = await extend(c, chain, g, keys[1], T0 + 1000)
    for (const k of [keys[0], keys[2]]) h = c.cosign(h, k)
    expect(c.isFinal(h)).toBe(false)
    expect(c.isFinal(c.cosign(h, keys[3]))).toBe(true)
  })

  it('rejects duplicate signers and does not count them twice', async () => {
    const { keys, g, chain, c } = setup()
    const h = await extend(c, chain, g, keys[1], T0 + 1000)
    const dup = { ...h, signatures: [...h.signatures, signHeader(h, keys[2]), signHeader(h, keys[2])] }
    expect(c.isFinal(dup)).toBe(false)
    await rejects(c.validateHeader(dup, g, chain, T0 + 1000), 'ERR_SIGNATURE_DUPLICATE')
  })

  it('rejects non-validator and invalid signatures, and ignores them for finality', async () => {
    const { keys, g, chain, c } = setup()
    const h = await extend(c, chain, g, keys[1], T0 + 1000)
    const outsider = key(77)
    const foreign = { ...h, signatures: [...h.signatures, signHeader(h, keys[2]), signHeader(h, outsider)] }
    expect(c.isFinal(foreign)).toBe(false)
    await rejects(c.validateHeader(foreign, g, chain, T0 + 1000), 'ERR_SIGNATURE_NOT_VALIDATOR')
    expect(() => c.cosign(h, outsider)).toThrow(expect.objectContaining({ code: 'ERR_NOT_VALIDATOR' }))
    const s = signHeader(h, keys[3])
    const forged = { signer: s.signer, signature: s.signature.slice() }
    forged.signature[0] ^= 1
    const bad = { ...h, signatures: [...h.signatures, signHeader(h, keys[2]), forged] }
    expect(c.isFinal(bad)).toBe(false)
    await rejects(c.validateHeader(bad, g, chain, T0 + 1000), 'ERR_SIGNATURE_INVALID')
  })

  it('requires the producer signature even with a quorum of others', async () => {
    const { keys, g, chain, c } = setup()
    const h = await extend(c, chain, g, keys[1], T0 + 1000)
    const others = {
      ...h,
      signatures: [signHeader(h, keys[0]), signHeader(h, keys[2]), signHeader(h, keys[3])],
    }
    expect(c.isFinal(others)).toBe(true)
    await rejects(c.validateHeader(others, g, chain, T0 + 1000), 'ERR_PRODUCER_SIGNATURE')
  })

  it('keeps the authority production rules', async () => {
    const { keys, g, chain, c } = setup()
    const h1 = await extend(c, chain, g, keys[1], T0 + 1000)
    await rejects(
      c.seal({ header: { ...h1, height: 2, prevHash: new Uint8Array(32) }, txs: [] }, h1, keys[2], chain),
      'ERR_HEADER_PREV_HASH',
    )
    expect(await c.producerDelay(h1, keys[1].publicKey, chain, T0 + 1000)).toBeNull()
    expect(await c.producerDelay(h1, keys[2].publicKey, chain, T0 + 1000)).toBe(1000)
  })
})
