import { blockHash, signHeader } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import { CONSENSUS_ERROR_CODES, type ConsensusErrorCode } from '../src/index.js'
import { authority, createConsensus, createGenesis, type Genesis, genesisBlock } from '../src/index.js'
import { child, extend, key, MemChain, manual, T0 } from './helpers.js'

function setup(n: number) {
  const keys = Array.from({ length: n }, (_, i) => key(i + 1))
  const genesis: Genesis = createGenesis({
    network: 'test',
    validators: keys,
    blockTimeMs: 1000,
    timestamp: T0,
    consensus: { type: 'authority', backoffMs: 500 },
  })
  const g = genesisBlock(genesis).header
  const chain = new MemChain(g)
  return { keys, genesis, g, chain, c: authority(genesis) }
}

async function rejects(p: Promise<unknown>, code: ConsensusErrorCode) {
  // Every rule tested here must be a code of the package's union (checked at run time, not only by tsc).
  expect(CONSENSUS_ERROR_CODES).toContain(code)
  await expect(p).rejects.toMatchObject({ name: 'ConsensusError', code })
}

describe('authority', () => {
  it('accepts a valid in-turn block with difficulty 2 and work 2', async () => {
    const { keys, g, chain, c } = setup(3)
    const h = await extend(c, chain, g, keys[1], T0 + 1000)
    expect(h.difficulty).toBe(2)
    expect(h.nonce).toBe(0)
    expect(c.work(h)).toBe(2n)
    expect(c.isFinal(h)).toBe(false)
    expect(createConsensus(c.genesis).type).toBe('authority')
  })

  it('accepts an out-of-turn block after the back-off, with difficulty 1', async () => {
    const { keys, g, chain, c } = setup(3)
    const h = await extend(c, chain, g, keys[0], T0 + 1500)
    expect(h.difficulty).toBe(1)
    expect(c.work(h)).toBe(1n)
  })

  it('rejects out-of-turn blocks before the back-off (validate and seal)', async () => {
    const { keys, g, chain, c } = setup(3)
    const h = manual(g, keys[0], { timestamp: T0 + 1499, difficulty: 1 })
    await rejects(c.validateHeader(h, g, chain, T0 + 2000), 'ERR_HEADER_TIMESTAMP_EARLY')
    await rejects(c.seal(child(g, T0 + 1200), g, keys[2], chain), 'ERR_HEADER_TIMESTAMP_EARLY')
    // In turn, before the block time.
    await rejects(
      c.validateHeader(manual(g, keys[1], { timestamp: T0 + 999, difficulty: 2 }), g, chain, T0 + 2000),
      'ERR_HEADER_TIMESTAMP_EARLY',
    )
  })

  it('rejects non-validators', async () => {
    const { g, chain, c } = setup(3)
    const outsider = key(99)
    await rejects(
      c.validateHeader(manual(g, outsider, { timestamp: T0 + 5000, difficulty: 1 }), g, chain, T0 + 5000),
      'ERR_PRODUCER_NOT_VALIDATOR',
    )
    await rejects(c.seal(child(g, T0 + 5000), g, outsider, chain), 'ERR_NOT_VALIDATOR')
    expect(await c.producerDelay(g, outsider.publicKey, chain, T0)).toBeNull()
  })

  it('rejects missing, invalid, foreign and extra signatures', async () => {
    const { keys, g, chain, c } = setup(3)
    const now = T0 + 1000
    await rejects(
      c.validateHeader(manual(g, keys[1], { timestamp: now, difficulty: 2 }, null), g, chain, now),
      'ERR_PRODUCER_SIGNATURE',
    )
    const bad = manual(g, keys[1], { timestamp: now, difficulty: 2 })
    const sig = bad.signatures[0].signature.slice()
    sig[5] ^= 1
    bad.signatures = [{ signer: bad.signatures[0].signer, signature: sig }]
    await rejects(c.validateHeader(bad, g, chain, now), 'ERR_PRODUCER_SIGNATURE')
    // Signed by another validator but claims keys[1] as producer.
    await rejects(
      c.validateHeader(manual(g, keys[1], { timestamp: now, difficulty: 2 }, keys[2]), g, chain, now),
      'ERR_PRODUCER_SIGNATURE',
    )
    const extra = manual(g, keys[1], { timestamp: now, difficulty: 2 })
    extra.signatures.push(signHeader(extra, keys[2]))
    await rejects(c.validateHeader(extra, g, chain, now), 'ERR_SIGNATURE_EXTRA')
  })

  it('rejects a wrong difficulty, nonce, link, network and future timestamps', async () => {
    const { keys, g, chain, c } = setup(3)
    const now = T0 + 2000
    await rejects(
      c.validateHeader(manual(g, keys[1], { timestamp: now, difficulty: 1 }), g, chain, now),
      'ERR_HEADER_DIFFICULTY',
    )
    await rejects(
      c.validateHeader(manual(g, keys[0], { timestamp: now, difficulty: 2 }), g, chain, now),
      'ERR_HEADER_DIFFICULTY',
    )
    await rejects(
      c.validateHeader(manual(g, keys[1], { timestamp: now, difficulty: 2, nonce: 7 }), g, chain, now),
      'ERR_HEADER_NONCE',
    )
    await rejects(
      c.validateHeader(manual(g, keys[1], { timestamp: now, difficulty: 2, height: 2 }), g, chain, now),
      'ERR_HEADER_HEIGHT',
    )
    await rejects(
      c.validateHeader(
        manual(g, keys[1], { timestamp: now, difficulty: 2, prevHash: new Uint8Array(32) }),
        g,
        chain,
        now,
      ),
      'ERR_HEADER_PREV_HASH',
    )
    await rejects(
      c.validateHeader(
        manual(g, keys[1], { timestamp: now, difficulty: 2, network: 'other' }),
        g,
        chain,
        now,
      ),
      'ERR_HEADER_NETWORK',
    )
    await rejects(
      c.validateHeader(manual(g, keys[1], { timestamp: now + 15_001, difficulty: 2 }), g, chain, now),
      'ERR_HEADER_TIMESTAMP_FUTURE',
    )
    await c.validateHeader(manual(g, keys[1], { timestamp: now + 15_000, difficulty: 2 }), g, chain, now)
  })

  it('signer limit n=3: at most one of any 2 consecutive blocks', async () => {
    const { keys, g, chain, c } = setup(3)
    const h1 = await extend(c, chain, g, keys[1], T0 + 1000)
    // keys[1] again at height 2 (out of turn): too recent.
    await rejects(
      c.validateHeader(manual(h1, keys[1], { timestamp: T0 + 3000, difficulty: 1 }), h1, chain, T0 + 3000),
      'ERR_PRODUCER_RECENT',
    )
    await rejects(c.seal(child(h1, T0 + 3000), h1, keys[1], chain), 'ERR_PRODUCER_RECENT')
    expect(await c.producerDelay(h1, keys[1].publicKey, chain, T0)).toBeNull()
    const h2 = await extend(c, chain, h1, keys[2], T0 + 2000)
    // keys[1] may produce again at height 3 (out of turn; in turn is keys[0]).
    await extend(c, chain, h2, keys[1], T0 + 3500)
  })

  it('signer limit n=4: at most one of any 3 consecutive blocks', async () => {
    const { keys, g, chain, c } = setup(4)
    const h1 = await extend(c, chain, g, keys[1], T0 + 1000)
    const h2 = await extend(c, chain, h1, keys[2], T0 + 2000)
    await rejects(
      c.validateHeader(manual(h2, keys[1], { timestamp: T0 + 9000, difficulty: 1 }), h2, chain, T0 + 9000),
      'ERR_PRODUCER_RECENT',
    )
    await rejects(
      c.validateHeader(manual(h2, keys[2], { timestamp: T0 + 9000, difficulty: 1 }), h2, chain, T0 + 9000),
      'ERR_PRODUCER_RECENT',
    )
    const h3 = await extend(c, chain, h2, keys[3], T0 + 3000)
    await extend(c, chain, h3, keys[1], T0 + 4500)
  })

  it('n=1: the single validator always produces, always in turn', async () => {
    const { keys, g, chain, c } = setup(1)
    let parent = g
    for (let i = 1; i <= 5; i++) {
      expect(await c.producerDelay(parent, keys[0].publicKey, chain, parent.timestamp)).toBe(1000)
      parent = await extend(c, chain, parent, keys[0], T0 + i * 1000)
      expect(parent.difficulty).toBe(2)
    }
  })

  it('producerDelay: in turn after the block time, out of turn after the back-off, clamped at 0', async () => {
    const { keys, g, chain, c } = setup(3)
    // Height 1: keys[1] in turn.
    expect(await c.producerDelay(g, keys[1].publicKey, chain, T0)).toBe(1000)
    expect(await c.producerDelay(g, keys[1].publicKey, chain, T0 + 400)).toBe(600)
    expect(await c.producerDelay(g, keys[1].publicKey, chain, T0 + 5000)).toBe(0)
    expect(await c.producerDelay(g, keys[0].publicKey, chain, T0)).toBe(1500)
    expect(await c.producerDelay(g, keys[2].publicKey, chain, T0 + 1000)).toBe(500)
    expect(await c.producerDelay(g, keys[2].publicKey, chain, T0 + 9000)).toBe(0)
  })

  it('seal keeps the timestamp and txs, never mutates the input header', async () => {
    const { keys, g, chain, c } = setup(3)
    const b = child(g, T0 + 1234)
    const before = blockHash(b.header)
    const sealed = await c.seal(b, g, keys[1], chain)
    expect(sealed.header.timestamp).toBe(T0 + 1234)
    expect(sealed.header.signatures).toHaveLength(1)
    expect(b.header.signatures).toHaveLength(0)
    expect(blockHash(b.header)).toEqual(before)
  })
})
