import { randomBytes } from 'node:crypto'
import { type Message, TopicValidatorResult } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  createBlock,
  createTransaction,
  encodeBlock,
  encodeBlockAnnouncement,
  encodeTransaction,
  encodeTxBatch,
  generateKeyPair,
  toHex,
} from '@profichain/core'
import { Counter, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { networkConfig } from '../src/config.js'
import { GossipValidator } from '../src/gossip-validation.js'
import type { NetworkContext } from '../src/host.js'
import { peerIdOfKey } from '../src/index.js'
import type { Members } from '../src/members.js'
import { NETWORK_METRIC_NAMES, NetworkMetrics } from '../src/metrics.js'
import type { BlockVerdict, Verdict } from '../src/types.js'
import { makeKeys, membersOf, NETWORK } from './helpers.js'

const [member, stranger] = makeKeys(2)
const sender = peerIdFromString(peerIdOfKey(generateKeyPair()))
const msg = (data: Uint8Array) => ({ data, topic: 't', type: 'unsigned' }) as Message
const txBatch = (key = member) =>
  msg(encodeTxBatch([encodeTransaction(createTransaction(key, { network: NETWORK, seq: 0, payload: new Uint8Array([1]) }))]))
const blockMsg = msg(
  encodeBlockAnnouncement(
    encodeBlock(
      createBlock({
        network: NETWORK,
        height: 7,
        timestamp: 1,
        prevHash: new Uint8Array(randomBytes(32)),
        producer: member.publicKey,
        txs: [],
      }),
    ),
  ),
)

/** A validator over fakes: the node's verdicts, a ban list, an orphan counter that bans on the 2nd orphan. */
function setup(opts: { txVerdict?: () => Verdict; blockVerdict?: () => BlockVerdict; banned?: boolean } = {}) {
  const registry = new Registry()
  const metrics = new NetworkMetrics(registry)
  const logs: Array<{ level: string; msg?: string }> = []
  const log = Object.fromEntries(
    ['debug', 'info', 'warn', 'error'].map((level) => [level, (_: object, m?: string) => logs.push({ level, msg: m })]),
  ) as unknown as NetworkContext['log']
  const ctx: NetworkContext = {
    config: networkConfig({ network: NETWORK, listen: [], members: membersOf([member]) }),
    log,
    metrics,
    selfId: 'self',
    node: () => undefined,
    running: () => true,
    stopSignal: () => new AbortController().signal,
  }
  let orphans = 0
  const members = {
    isBanned: () => opts.banned ?? false,
    orphanFrom: () => (++orphans >= 2 ? { reason: 'orphan-flood', until: Date.now() + 1000 } : undefined),
  } as unknown as Members
  const allowed = toHex(member.publicKey)
  const v = new GossipValidator(
    ctx,
    {
      originAllowed: (o) => toHex(o) === allowed,
      onTxBatch: () => (opts.txVerdict ?? (() => 'accept'))(),
      onBlock: () => (opts.blockVerdict ?? (() => 'accept'))(),
    },
    members,
  )
  return { v, metrics, registry, logs }
}

describe('GossipValidator (the error carries the verdict)', () => {
  it('maps each outcome to accept / reject (penalise) / ignore and counts it by reason', async () => {
    const { v, metrics } = setup({ txVerdict: () => 'reject' })
    expect(await v.validateTxs(sender, msg(new Uint8Array([0xde, 0xad])))).toBe(TopicValidatorResult.Reject)
    expect(await v.validateTxs(sender, txBatch(stranger))).toBe(TopicValidatorResult.Reject)
    expect(await v.validateTxs(sender, txBatch())).toBe(TopicValidatorResult.Reject)
    const s = metrics.snapshot()
    expect(s.rejected).toEqual({ decode: 1, invalid: 1, origin: 1, 'orphan-flood': 0, banned: 0 })
    expect([s.gossipRejected, s.gossipDecodeFailed, s.gossipIn, s.gossipAccepted]).toEqual([3, 1, 3, 0])
  })

  it('one stranger anywhere in a batch of member records rejects it (origin), whatever its position', async () => {
    const tx = (key: typeof member, seq: number) => encodeTransaction(createTransaction(key, { network: NETWORK, seq, payload: new Uint8Array([seq]) }))
    const { v, metrics } = setup()
    const mine = [0, 1, 2, 3].map((i) => tx(member, i))
    const odd = tx(stranger, 9)
    for (const batch of [[...mine, odd], [mine[0], odd, mine[1]], [odd, ...mine]])
      expect(await v.validateTxs(sender, msg(encodeTxBatch(batch)))).toBe(TopicValidatorResult.Reject)
    expect(await v.validateTxs(sender, msg(encodeTxBatch(mine)))).toBe(TopicValidatorResult.Accept)
    expect(metrics.snapshot().rejected.origin).toBe(3)
  })

  it('ignores without penalty when the callback throws or says ignore; accepts otherwise', async () => {
    let mode: 'throw' | 'ignore' | 'accept' = 'throw'
    const { v, metrics, logs } = setup({
      txVerdict: () => {
        if (mode === 'throw') throw new Error('store closed')
        return mode
      },
    })
    expect(await v.validateTxs(sender, txBatch())).toBe(TopicValidatorResult.Ignore)
    mode = 'ignore'
    expect(await v.validateTxs(sender, txBatch())).toBe(TopicValidatorResult.Ignore)
    mode = 'accept'
    expect(await v.validateTxs(sender, txBatch())).toBe(TopicValidatorResult.Accept)
    const s = metrics.snapshot()
    expect([s.gossipIgnored, s.gossipCallbackErrors, s.gossipAccepted, s.gossipRejected]).toEqual([2, 1, 1, 0])
    expect(logs.some((l) => l.level === 'error' && l.msg === 'gossip callback failed')).toBe(true)
  })

  it('ignores an orphan within the allowance, rejects the one that crosses it, rejects a banned sender', async () => {
    const { v, metrics } = setup({ blockVerdict: () => 'orphan' })
    expect(await v.validateBlock(sender, blockMsg)).toBe(TopicValidatorResult.Ignore)
    expect(await v.validateBlock(sender, blockMsg)).toBe(TopicValidatorResult.Reject)
    const banned = setup({ banned: true })
    expect(await banned.v.validateBlock(sender, blockMsg)).toBe(TopicValidatorResult.Reject)
    expect(metrics.snapshot().orphanBlocks).toBe(2)
    expect(metrics.snapshot().rejected['orphan-flood']).toBe(1)
    expect(banned.metrics.snapshot().rejected.banned).toBe(1)
  })

  it('exports the same counts as prom-client Counters, by topic and reason', async () => {
    const { v, registry } = setup({ blockVerdict: () => 'orphan' })
    await v.validateTxs(sender, txBatch(stranger))
    await v.validateTxs(sender, txBatch())
    await v.validateBlock(sender, blockMsg)
    const text = await registry.metrics()
    expect(text).toContain('profichain_network_gossip_rejected_total{topic="tx",reason="origin"} 1')
    expect(text).toContain('profichain_network_gossip_accepted_total{topic="tx"} 1')
    expect(text).toContain('profichain_network_gossip_ignored_total{topic="block",reason="orphan"} 1')
    expect(text).toContain('profichain_network_gossip_received_total{topic="tx"} 2')
    expect(text).toContain('profichain_network_orphan_blocks_total 1')
    for (const name of NETWORK_METRIC_NAMES) {
      expect(name).toMatch(/^profichain_network_[a-z_]+_total$/)
      expect(text).toContain(`# TYPE ${name} counter`)
    }
    // A second network on the same registry (restart in one process) shares the Counters...
    expect(() => new NetworkMetrics(registry)).not.toThrow()
    // ...but a same-named metric of another shape is refused at once, not at the first increment.
    const other = new Registry()
    new Counter({ name: 'profichain_network_gossip_rejected_total', help: 'x', registers: [other] })
    expect(() => new NetworkMetrics(other)).toThrow(/profichain_network_gossip_rejected_total is already registered/)
  })
})
