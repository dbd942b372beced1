import { type BlockHeader, blockHash, encodeHeaderBody, sha256, signHeader } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import { CONSENSUS_ERROR_CODES, type ConsensusErrorCode } from '../src/index.js'
import {
  createConsensus,
  createGenesis,
  type Genesis,
  genesisBlock,
  leadingZeroBits,
  retarget,
  work,
} from '../src/index.js'
import { child, extend, key, MemChain, manual, T0 } from './helpers.js'

const miner = key(1)
const observer = key(2)
const outsider = key(3)

function setup(params: Record<string, unknown> = {}) {
  const genesis: Genesis = createGenesis({
    network: 'pow',
    validators: [],
    members: [
      { name: 'miner', publicKey: Buffer.from(miner.publicKey).toString('hex'), roles: ['producer'] },
      { name: 'observer', publicKey: Buffer.from(observer.publicKey).toString('hex'), roles: ['thin'] },
    ],
    blockTimeMs: 1000,
    timestamp: T0,
    consensus: {
      type: 'work',
      initialDifficulty: 8,
      retargetInterval: 4,
      minDifficulty: 2,
      maxDifficulty: 12,
      ...params,
    },
  })
  const g = genesisBlock(genesis).header
  return { genesis, g, chain: new MemChain(g), c: work(genesis) }
}

async function rejects(p: Promise<unknown>, code: ConsensusErrorCode) {
  // Every rule tested here must be a code of the package's union (checked at run time, not only by tsc).
  expect(CONSENSUS_ERROR_CODES).toContain(code)
  await expect(p).rejects.toMatchObject({ name: 'ConsensusError', code })
}

/** Mine a header by hand with an arbitrary difficulty (for negative tests). */
function mineManual(parent: BlockHeader, difficulty: number, timestamp: number, meet = true): BlockHeader {
  for (let nonce = 0; ; nonce++) {
    const h = manual(parent, miner, { timestamp, difficulty, nonce }, null)
    const ok = leadingZeroBits(sha256(encodeHeaderBody(h))) >= difficulty
    if (ok === meet) {
      h.signatures = [signHeader(h, miner)]
      return h
    }
  }
}

describe('work', () => {
  it('counts leading zero bits', () => {
    expect(leadingZeroBits(new Uint8Array([0, 0, 0x80]))).toBe(16)
    expect(leadingZeroBits(new Uint8Array([0, 0x01]))).toBe(15)
    expect(leadingZeroBits(new Uint8Array([0xff]))).toBe(0)
    expect(leadingZeroBits(new Uint8Array(32))).toBe(256)
  })

  it('seals and accepts a block meeting the difficulty; work = 2^difficulty', async () => {
    const { g, chain, c } = setup()
    const h = await extend(c, chain, g, miner, T0 + 1000)
    expect(h.difficulty).toBe(8)
    expect(leadingZeroBits(blockHash(h))).toBeGreaterThanOrEqual(8)
    expect(c.work(h)).toBe(256n)
    expect(c.isFinal(h)).toBe(false)
    expect(createConsensus(c.genesis).type).toBe('work')
  })

  it('rejects insufficient work', async () => {
    const { g, chain, c } = setup()
    const h = mineManual(g, 8, T0 + 1000, false)
    await rejects(c.validateHeader(h, g, chain, T0 + 1000), 'ERR_INSUFFICIENT_WORK')
  })

  it('rejects a difficulty other than the expected one', async () => {
    const { g, chain, c } = setup()
    await rejects(c.validateHeader(mineManual(g, 7, T0 + 1000), g, chain, T0 + 1000), 'ERR_HEADER_DIFFICULTY')
  })

  it('rejects producers who may not mine and bad signatures', async () => {
    const { g, chain, c } = setup()
    const byObserver = manual(g, observer, { timestamp: T0 + 1000, difficulty: 8 })
    await rejects(c.validateHeader(byObserver, g, chain, T0 + 1000), 'ERR_PRODUCER_NOT_MEMBER')
    const byOutsider = manual(g, outsider, { timestamp: T0 + 1000, difficulty: 8 })
    await rejects(c.validateHeader(byOutsider, g, chain, T0 + 1000), 'ERR_PRODUCER_NOT_MEMBER')
    await rejects(c.seal(child(g, T0 + 1000), g, observer, chain), 'ERR_NOT_VALIDATOR')
    expect(await c.producerDelay(g, observer.publicKey, chain, T0)).toBeNull()
    expect(await c.producerDelay(g, miner.publicKey, chain, T0)).toBe(0)
    const unsigned = mineManual(g, 8, T0 + 1000)
    unsigned.signatures = []
    await rejects(c.validateHeader(unsigned, g, chain, T0 + 1000), 'ERR_PRODUCER_SIGNATURE')
  })

  it('rejects timestamps not after the median of recent blocks, or too far ahead', async () => {
    const { g, chain, c } = setup()
    await rejects(c.validateHeader(mineManual(g, 8, T0), g, chain, T0), 'ERR_HEADER_TIMESTAMP_EARLY')
    await rejects(
      c.validateHeader(mineManual(g, 8, T0 + 20_000), g, chain, T0),
      'ERR_HEADER_TIMESTAMP_FUTURE',
    )
  })

  it('retarget step: up when fast, down when slow, clamped', () => {
    const p = { minDifficulty: 2, maxDifficulty: 12 }
    expect(retarget(8, 1000, 4000, p)).toBe(9)
    expect(retarget(8, 2828, 4000, p)).toBe(9)
    expect(retarget(8, 2829, 4000, p)).toBe(8)
    expect(retarget(8, 4000, 4000, p)).toBe(8)
    expect(retarget(8, 5656, 4000, p)).toBe(8)
    expect(retarget(8, 5657, 4000, p)).toBe(7)
    expect(retarget(12, 0, 4000, p)).toBe(12)
    expect(retarget(2, 1e9, 4000, p)).toBe(2)
  })

  async function chainWithGap(gapMs: number, blocks: number) {
    const s = setup({ initialDifficulty: 4 })
    let parent = s.g
    for (let i = 1; i <= blocks; i++)
      parent = await extend(s.c, s.chain, parent, miner, T0 + 1000 + i * gapMs)
    return { ...s, head: parent }
  }

  it('difficulty goes up when blocks are too fast and down when too slow', async () => {
    const fast = await chainWithGap(10, 7)
    // Height 4 keeps the difficulty (its window would reach back to genesis); height 8 retargets.
    expect(fast.head.difficulty).toBe(4)
    expect(await fast.c.expectedDifficulty(fast.head, fast.chain)).toBe(5)
    const slow = await chainWithGap(5000, 7)
    expect(await slow.c.expectedDifficulty(slow.head, slow.chain)).toBe(3)
    const onTime = await chainWithGap(1000, 7)
    expect(await onTime.c.expectedDifficulty(onTime.head, onTime.chain)).toBe(4)
  })

  it('rejects the old difficulty after a retarget and accepts the new one', async () => {
    const { c, chain, head } = await chainWithGap(10, 7)
    const ts = head.timestamp + 10
    await rejects(c.validateHeader(mineManual(head, 4, ts), head, chain, ts), 'ERR_HEADER_DIFFICULTY')
    const sealed = await extend(c, chain, head, miner, ts)
    expect(sealed.difficulty).toBe(5)
    // Between retargets the difficulty is inherited.
    expect(await c.expectedDifficulty(sealed, chain)).toBe(5)
  })

  it('seal honours an AbortSignal', async () => {
    const { g, chain, c } = setup({ initialDifficulty: 60, maxDifficulty: 64 })
    const pre = new AbortController()
    pre.abort()
    await rejects(c.seal(child(g, T0 + 1000), g, miner, chain, pre.signal), 'ERR_SEAL_ABORTED')
    const ac = new AbortController()
    const p = c.seal(child(g, T0 + 1000), g, miner, chain, ac.signal)
    setImmediate(() => ac.abort())
    await rejects(p, 'ERR_SEAL_ABORTED')
  })
})
