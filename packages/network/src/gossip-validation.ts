import { type Message, TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import {
  type Block,
  decodeBlockAnnouncement,
  decodeTransaction,
  decodeVote,
  equalBytes,
  type Transaction,
  toHex,
  verifyVote,
  type Vote,
} from '@profichain/core'
import { errMessage } from './config.js'
import { GossipAction, GossipActionError, type GossipErrorCode } from './errors.js'
import type { NetworkContext } from './host.js'
import type { Members } from './members.js'
import { txBatchItems } from './tx-batch.js'
import type { BlockVerdict, IgnoreReason, NetworkComponents, RejectReason } from './types.js'

type Topic = 'tx' | 'block' | 'vote' | 'checkpoint'

/** Largest checkpoint note accepted on the checkpoint topic. */
export const MAX_CHECKPOINT_NOTE_BYTES = 64 * 1024

/** The stats/metrics reason each gossip error is counted under. */
const REASON = {
  ERR_GOSSIP_DECODE: 'decode',
  ERR_GOSSIP_ORIGIN: 'origin',
  ERR_GOSSIP_INVALID: 'invalid',
  ERR_GOSSIP_ORPHAN_FLOOD: 'orphan-flood',
  ERR_GOSSIP_BANNED: 'banned',
  ERR_GOSSIP_ORPHAN: 'orphan',
  ERR_GOSSIP_IGNORED: 'verdict',
  ERR_GOSSIP_CALLBACK: 'callback-error',
} as const satisfies Record<GossipErrorCode, RejectReason | IgnoreReason>

/**
 * Topic validators of the tx and block topics. Each check throws a `GossipActionError` that carries its
 * verdict (REJECT penalises the sender, IGNORE does not); `toResult` turns any outcome into gossipsub's
 * answer and counts it by reason, so the penalty is decided where the error is raised, in one place.
 */
export class GossipValidator {
  constructor(
    private readonly ctx: NetworkContext,
    private readonly components: Pick<NetworkComponents, 'originAllowed' | 'onTxBatch' | 'onBlock' | 'onVote' | 'onCheckpoint'>,
    private readonly members: Members,
  ) {}

  /** Validator of the tx topic. */
  validateTxs = (peer: PeerId, msg: Message): Promise<TopicValidatorResult> =>
    this.run('tx', peer, msg, async (meta) => {
      let txs: Transaction[]
      try {
        txs = txBatchItems(msg.data).map((b) => decodeTransaction(b))
      } catch (err) {
        throw decodeError(meta, 'tx batch', err)
      }
      // Only allowed keys (genesis members) may originate records: one stranger's tx rejects the batch.
      // A batch is mostly one origin's records: ask once per run of equal origins (each ask hex-encodes it).
      let allowed: Uint8Array | undefined
      const stranger = txs.find((t) => {
        const o = t.body.origin
        if (allowed !== undefined && equalBytes(o, allowed)) return false
        if (!this.components.originAllowed(o)) return true
        allowed = o
        return false
      })
      if (stranger !== undefined) {
        throw new GossipActionError(
          GossipAction.REJECT,
          'ERR_GOSSIP_ORIGIN',
          'tx batch rejected: a tx origin is not an allowed key (not a genesis member)',
          { ...meta, origin: toHex(stranger.body.origin), txs: txs.length },
        )
      }
      this.verdict(meta, await this.callback(meta, () => this.components.onTxBatch(txs, meta.peer)))
    })

  /** Validator of the block topic. */
  validateBlock = (peer: PeerId, msg: Message): Promise<TopicValidatorResult> =>
    this.run('block', peer, msg, async (meta) => {
      let block: Block
      try {
        block = decodeBlockAnnouncement(msg.data)
      } catch (err) {
        throw decodeError(meta, 'block', err)
      }
      const v = await this.callback(meta, () => this.components.onBlock(block, meta.peer))
      if (v === 'orphan') {
        const height = block.header.height
        this.ctx.metrics.count('orphanBlocks', {})
        const c = this.ctx.config
        const ban = this.members.orphanFrom(peer, {
          height,
          orphanLimit: c.orphanLimit,
          orphanWindowMs: c.orphanWindowMs,
        })
        if (ban !== undefined) {
          // Also lowers its gossipsub score.
          throw new GossipActionError(GossipAction.REJECT, 'ERR_GOSSIP_ORPHAN_FLOOD', 'orphan flood', {
            ...meta,
            height,
            orphanLimit: c.orphanLimit,
            orphanWindowMs: c.orphanWindowMs,
          })
        }
        throw new GossipActionError(GossipAction.IGNORE, 'ERR_GOSSIP_ORPHAN', 'orphan block (parent unknown)', {
          ...meta,
          height,
        })
      }
      this.verdict(meta, v)
    })

  /**
   * Validator of the vote topic: it must decode, name this network, be signed by a genesis validator with a
   * valid signature over the block hash (else REJECT: the sender relayed a bad vote); then the node decides.
   */
  validateVote = (peer: PeerId, msg: Message): Promise<TopicValidatorResult> =>
    this.run('vote', peer, msg, async (meta) => {
      let vote: Vote
      try {
        vote = decodeVote(msg.data)
      } catch (err) {
        throw decodeError(meta, 'vote', err)
      }
      const c = this.ctx.config
      const signer = toHex(vote.signer)
      if (vote.network !== c.network || !c.validators.includes(signer) || !verifyVote(vote)) {
        this.ctx.log.warn({ ...meta, signer, height: vote.height, network: vote.network }, 'rejected a forged or foreign vote')
        throw new GossipActionError(GossipAction.REJECT, 'ERR_GOSSIP_INVALID', 'vote rejected: wrong network, not a validator or a bad signature', meta)
      }
      const onVote = this.components.onVote
      if (onVote === undefined)
        throw new GossipActionError(GossipAction.IGNORE, 'ERR_GOSSIP_IGNORED', 'votes are not used here', meta)
      this.verdict(meta, await this.callback(meta, () => onVote(vote, meta.peer)))
    })

  /** Validator of the checkpoint topic: bounded size, then the node verifies the signed note (DESIGN §11). */
  validateCheckpoint = (peer: PeerId, msg: Message): Promise<TopicValidatorResult> =>
    this.run('checkpoint', peer, msg, async (meta) => {
      if (msg.data.byteLength > MAX_CHECKPOINT_NOTE_BYTES)
        throw decodeError(meta, 'checkpoint', new Error(`${msg.data.byteLength} bytes exceed ${MAX_CHECKPOINT_NOTE_BYTES}`))
      const onCheckpoint = this.components.onCheckpoint
      if (onCheckpoint === undefined)
        throw new GossipActionError(GossipAction.IGNORE, 'ERR_GOSSIP_IGNORED', 'checkpoints are not used here', meta)
      this.verdict(meta, await this.callback(meta, () => onCheckpoint(msg.data, meta.peer)))
    })

  private async run(
    topic: Topic,
    peer: PeerId,
    msg: Message,
    check: (meta: { peer: string; topic: Topic }) => Promise<void>,
  ): Promise<TopicValidatorResult> {
    const meta = { peer: peer.toString(), topic }
    this.ctx.metrics.count('gossipIn', { topic })
    this.ctx.metrics.count('gossipBytesIn', { topic }, msg.data.byteLength)
    try {
      if (this.members.isBanned(meta.peer))
        throw new GossipActionError(GossipAction.REJECT, 'ERR_GOSSIP_BANNED', 'sender is banned', meta)
      await check(meta)
      this.ctx.metrics.count('gossipAccepted', { topic })
      return TopicValidatorResult.Accept
    } catch (err) {
      // Anything unexpected (a throwing originAllowed…) is our failure: ignore without penalty.
      const e =
        err instanceof GossipActionError
          ? err
          : new GossipActionError(GossipAction.IGNORE, 'ERR_GOSSIP_CALLBACK', 'gossip validation failed', {
              ...meta,
              error: errMessage(err),
            })
      return this.toResult(topic, e)
    }
  }

  /** gossipsub's answer to a failed check, counted by reason; logged where the operator should know. */
  private toResult(topic: Topic, err: GossipActionError): TopicValidatorResult {
    const reason = REASON[err.code]
    if (err.code === 'ERR_GOSSIP_DECODE') this.ctx.log.warn(err.meta, `undecodable ${err.message}`)
    else if (err.code === 'ERR_GOSSIP_ORIGIN') this.ctx.log.warn(err.meta, err.message)
    else if (err.code === 'ERR_GOSSIP_CALLBACK') this.ctx.log.error(err.meta, err.message)
    if (err.action === GossipAction.REJECT) {
      this.ctx.metrics.rejectedGossip(topic, reason as RejectReason)
      return TopicValidatorResult.Reject
    }
    this.ctx.metrics.ignoredGossip(topic, reason as IgnoreReason)
    return TopicValidatorResult.Ignore
  }

  /** Run the node's callback; its failure is our problem, not the sender's: ignore without penalty. */
  private async callback(
    meta: { peer: string; topic: Topic },
    fn: () => BlockVerdict | Promise<BlockVerdict>,
  ): Promise<BlockVerdict> {
    try {
      return await fn()
    } catch (err) {
      throw new GossipActionError(GossipAction.IGNORE, 'ERR_GOSSIP_CALLBACK', 'gossip callback failed', {
        ...meta,
        error: errMessage(err),
      })
    }
  }

  /** The callback's verdict as an outcome: return on accept, throw the matching error otherwise. */
  private verdict(meta: { peer: string; topic: Topic }, v: BlockVerdict): void {
    if (v === 'accept') return
    if (v === 'reject')
      throw new GossipActionError(GossipAction.REJECT, 'ERR_GOSSIP_INVALID', 'invalid (the node rejected it)', meta)
    throw new GossipActionError(GossipAction.IGNORE, 'ERR_GOSSIP_IGNORED', 'ignored by the node', meta)
  }
}

function decodeError(meta: { peer: string; topic: Topic }, what: string, err: unknown) {
  return new GossipActionError(GossipAction.REJECT, 'ERR_GOSSIP_DECODE', `${what} gossip rejected`, {
    ...meta,
    error: errMessage(err),
  })
}
