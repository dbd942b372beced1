import { type Block, encodeBlock, encodeBlockAnnouncement, encodeTransaction, type Transaction, WIRE_LIMITS } from '@profichain/core'
import { errMessage, ITEM_OVERHEAD, sleep } from './config.js'
import { NetworkError } from './errors.js'
import type { GossipsubAdapter } from './gossipsub-adapter.js'
import type { NetworkContext } from './host.js'
import { encodeTxBatchItems, txBatchItems } from './tx-batch.js'
import type { PublishResult } from './types.js'

/** Batch framing overhead allowance: CBOR array header. */
const BATCH_OVERHEAD = 16
/** How long a deferred tx batch waits before it is tried alone again (gossipsub's seen cache keeps ids 2 min). */
const DEFER_MS = 15_000

interface Pending {
  topic: string
  data: Uint8Array
  done: (published: boolean) => void
  /** Times this tx batch was given new bytes because gossipsub's seen cache held the previous ones. */
  renewals?: number
}

/** New orders of one tx batch tried before it is deferred (each costs an encode and gossipsub's hash of it). */
const MAX_RENEWALS = 4
/** Deferred tx batches held at most (oldest dropped, counted: own records are re-sent from the outbox). */
const MAX_DEFERRED = 1024

/** Both callbacks, in order. */
function both(a: Pending['done'], b: Pending['done']): Pending['done'] {
  return (published) => {
    a(published)
    b(published)
  }
}

/**
 * The same tx batch in another order (new bytes, so a new gossip message id; receivers dedupe by txId): rotated
 * by a random offset, so repeated republishes of one batch rarely meet an order already seen. Undefined for a
 * single tx or after MAX_RENEWALS.
 */
function renewed(item: Pending): Pending | undefined {
  const items = txBatchItems(item.data)
  const renewals = (item.renewals ?? 0) + 1
  if (items.length < 2 || renewals > MAX_RENEWALS) return undefined
  const k = 1 + Math.floor(Math.random() * (items.length - 1))
  return { topic: item.topic, data: encodeTxBatchItems([...items.slice(k), ...items.slice(0, k)]), done: item.done, renewals }
}

/** A FIFO of pending messages that knows how many bytes it holds. */
class PendingQueue {
  private items: Pending[] = []
  bytes = 0

  get length(): number {
    return this.items.length
  }

  first(): Pending | undefined {
    return this.items[0]
  }

  push(p: Pending): void {
    this.items.push(p)
    this.bytes += p.data.byteLength
  }

  shift(): void {
    const p = this.items.shift()
    if (p) this.bytes -= p.data.byteLength
  }

  unshift(...ps: Pending[]): void {
    this.items.unshift(...ps)
    for (const p of ps) this.bytes += p.data.byteLength
  }

  replaceFirst(p: Pending): void {
    this.bytes += p.data.byteLength - this.items[0].data.byteLength
    this.items[0] = p
  }

  /** A pending message with exactly these bytes (not yet sent), if any. */
  find(data: Uint8Array): Pending | undefined {
    const n = data.byteLength
    // Differing batches differ in their first tx's body: the compare stops early.
    return this.items.find((p) => p.data.byteLength === n && Buffer.compare(p.data, data) === 0)
  }

  /** Remove everything (the caller settles each). */
  drain(): Pending[] {
    this.bytes = 0
    return this.items.splice(0)
  }

  /** Drop the oldest messages after the head (which may be in flight) until at most `max` bytes are held. */
  trim(max: number): Pending[] {
    let n = 0
    let bytes = this.bytes
    while (bytes > max && n + 1 < this.items.length) {
      n++
      bytes -= this.items[n].data.byteLength
    }
    if (n === 0) return []
    this.bytes = bytes
    return this.items.splice(1, n)
  }
}

/**
 * Outgoing gossip: blocks go before tx batches, paced by a token bucket (gossipsub has no back-pressure),
 * each message waiting until a subscriber's outbound stream is open. While no peer can take them, each queue
 * holds at most `maxQueuedBytes`: the oldest messages are dropped (counted), since own records are re-sent
 * from the durable outbox and peers sync missing blocks, so memory stays bounded on a node left alone.
 *
 * Republished tx batches: gossip message ids are content hashes and gossipsub's seen cache (2 min) refuses
 * bytes it has seen (`duplicate`), also after a publish that reached no peer (`unsent`). A republish is the
 * outbox's re-send of records that were not committed (the first copy may have reached only a producer that
 * then crashed), so such a batch is given new bytes: another order of its txs (a few tries), else — a single
 * record — it is deferred: folded into the next tx batch that goes out, or tried alone again every
 * `DEFER_MS` until the seen cache has forgotten it. A batch whose exact bytes are still queued (a requeue
 * while no peer could take the first copy) is not queued twice.
 */
export class PublishQueue {
  private readonly blockQueue = new PendingQueue()
  private readonly txQueue = new PendingQueue()
  private pumping = false
  private tokens = 0
  private tokensAt = 0
  private wake?: () => void
  /** Tx batches refused as seen with no other order left to try, by their bytes (base64). */
  private readonly deferred = new Map<string, Pending>()
  private deferTimer?: NodeJS.Timeout

  constructor(
    private readonly ctx: NetworkContext,
    private readonly topics: { txTopic: string; blockTopic: string; voteTopic: string; checkpointTopic: string },
    private readonly gossip: () => GossipsubAdapter,
  ) {}

  get length(): number {
    return this.blockQueue.length + this.txQueue.length + this.deferred.size
  }

  /** A subscription changed: a waiting publish may go now. */
  wakeUp(): void {
    this.wake?.()
  }

  /** Resolve every waiting publish with published: false (the network stops). */
  drain(): void {
    this.wake?.()
    clearTimeout(this.deferTimer)
    this.deferTimer = undefined
    const deferred = [...this.deferred.values()]
    this.deferred.clear()
    for (const p of deferred) p.done(false)
    for (const q of [this.blockQueue, this.txQueue]) for (const p of q.drain()) p.done(false)
  }

  /** Queue txs in batches of ≤ maxBatchBytes (see P2PNetwork.publishTxs). */
  publishTxs(txs: Transaction[]): Promise<PublishResult> {
    const c = this.ctx.config
    const encoded = txs.map((t) => encodeTransaction(t))
    const batches: Uint8Array[][] = []
    let cur: Uint8Array[] = []
    let size = BATCH_OVERHEAD
    for (const e of encoded) {
      if (e.byteLength + ITEM_OVERHEAD + BATCH_OVERHEAD > c.maxMessageBytes) {
        throw new NetworkError(
          'ERR_TX_TOO_LARGE',
          `a ${e.byteLength}-byte tx exceeds the ${c.maxMessageBytes}-byte gossip message limit`,
          { bytes: e.byteLength, maxMessageBytes: c.maxMessageBytes },
        )
      }
      if (
        cur.length > 0 &&
        (size + e.byteLength + ITEM_OVERHEAD > c.maxBatchBytes || cur.length >= WIRE_LIMITS.txBatchItems)
      ) {
        batches.push(cur)
        cur = []
        size = BATCH_OVERHEAD
      }
      cur.push(e)
      size += e.byteLength + ITEM_OVERHEAD
    }
    if (cur.length > 0) batches.push(cur)
    return this.enqueue(
      this.txQueue,
      this.topics.txTopic,
      batches.map((b) => encodeTxBatchItems(b)),
    )
  }

  /** Queue a (stripped) block announcement; blocks go out before queued tx batches. */
  publishBlock(block: Block | Uint8Array): Promise<PublishResult> {
    const max = this.ctx.config.maxMessageBytes
    const data = encodeBlockAnnouncement(block instanceof Uint8Array ? block : encodeBlock(block))
    if (data.byteLength > max) {
      throw new NetworkError(
        'ERR_TX_TOO_LARGE',
        `a ${data.byteLength}-byte block exceeds the ${max}-byte gossip message limit`,
        { bytes: data.byteLength, maxMessageBytes: max },
      )
    }
    return this.enqueue(this.blockQueue, this.topics.blockTopic, [data])
  }

  /** Queue a vote (`encodeVote` bytes); votes go out with blocks, before queued tx batches. */
  publishVote(data: Uint8Array): Promise<PublishResult> {
    return this.enqueue(this.blockQueue, this.topics.voteTopic, [data])
  }

  /** Queue a signed checkpoint note (DESIGN §11); it goes out with blocks, before queued tx batches. */
  publishCheckpoint(data: Uint8Array): Promise<PublishResult> {
    return this.enqueue(this.blockQueue, this.topics.checkpointTopic, [data])
  }

  private topicLabel(topic: string): 'tx' | 'block' | 'vote' | 'checkpoint' {
    if (topic === this.topics.txTopic) return 'tx'
    if (topic === this.topics.checkpointTopic) return 'checkpoint'
    return topic === this.topics.voteTopic ? 'vote' : 'block'
  }

  private enqueue(queue: PendingQueue, topic: string, messages: Uint8Array[]): Promise<PublishResult> {
    if (!this.ctx.running())
      return Promise.reject(new NetworkError('ERR_NOT_STARTED', 'the network is not started'))
    if (messages.length === 0) return Promise.resolve({ batches: 0, published: true })
    let left = messages.length
    let ok = true
    return new Promise((resolve) => {
      for (const data of messages) {
        this.ctx.metrics.count('publishQueued', { topic: this.topicLabel(topic) })
        const done = (published: boolean) => {
          ok &&= published
          if (--left === 0) resolve({ batches: messages.length, published: ok })
        }
        // The same bytes still waiting (queued while no peer could take them): settle with that copy.
        const same = queue === this.txQueue ? queue.find(data) : undefined
        if (same !== undefined) same.done = both(same.done, done)
        else queue.push({ topic, data, done })
      }
      const dropped = queue.trim(this.ctx.config.maxQueuedBytes)
      if (dropped.length > 0) {
        this.ctx.metrics.count('publishDropped', { topic: this.topicLabel(topic) }, dropped.length)
        this.ctx.log.warn(
          { topic: this.topicLabel(topic), dropped: dropped.length, maxQueuedBytes: this.ctx.config.maxQueuedBytes },
          'publish queue full (no peer takes gossip): oldest messages dropped',
        )
        for (const p of dropped) p.done(false)
      }
      this.pump().catch((err: unknown) => this.ctx.log.error({ err: errMessage(err) }, 'publish loop failed'))
    })
  }

  /** A tx batch the seen cache refused: again at once in another order, else deferred. */
  private republish(queue: PendingQueue, item: Pending): void {
    const again = renewed(item)
    if (again !== undefined) {
      this.ctx.metrics.count('publishRenewed', {})
      queue.unshift(again)
      return
    }
    const key = Buffer.from(item.data.buffer, item.data.byteOffset, item.data.byteLength).toString('base64')
    const same = this.deferred.get(key)
    if (same !== undefined) {
      same.done = both(same.done, item.done)
      return
    }
    this.deferred.set(key, { topic: item.topic, data: item.data, done: item.done })
    this.ctx.metrics.count('publishDeferred', {})
    if (this.deferred.size > MAX_DEFERRED) {
      const [oldestKey, oldest] = this.deferred.entries().next().value as [string, Pending]
      this.deferred.delete(oldestKey)
      this.ctx.metrics.count('publishDropped', { topic: 'tx' })
      oldest.done(false)
    }
    if (this.deferTimer === undefined) {
      this.deferTimer = setTimeout(() => this.retryDeferred(), DEFER_MS)
      this.deferTimer.unref()
    }
  }

  /** Deferred batches back into the tx queue (the seen cache may have forgotten them by now). */
  private retryDeferred(): void {
    this.deferTimer = undefined
    if (!this.ctx.running() || this.deferred.size === 0) return
    for (const p of this.deferred.values()) this.txQueue.push(p)
    this.deferred.clear()
    this.pump().catch((err: unknown) => this.ctx.log.error({ err: errMessage(err) }, 'publish loop failed'))
  }

  /** `item` (the next tx batch to go out) with deferred batches folded in while it stays within the limits. */
  private withDeferred(item: Pending): Pending {
    const limit = Math.min(this.ctx.config.maxMessageBytes, WIRE_LIMITS.txBatchBytes) - BATCH_OVERHEAD
    let items: Uint8Array[] | undefined
    let bytes = item.data.byteLength
    let done = item.done
    for (const [key, p] of this.deferred) {
      const extra = txBatchItems(p.data)
      items ??= txBatchItems(item.data)
      if (items.length + extra.length > WIRE_LIMITS.txBatchItems || bytes + p.data.byteLength > limit) break
      items.push(...extra)
      bytes += p.data.byteLength
      done = both(done, p.done)
      this.deferred.delete(key)
    }
    if (done === item.done || items === undefined) return item
    return { topic: item.topic, data: encodeTxBatchItems(items), done }
  }

  /** Wait until a subscription changes (or a short poll interval passes, or we stop). */
  private waitForSubscribers(): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(t)
        if (this.wake === finish) this.wake = undefined
        resolve()
      }
      const t = setTimeout(finish, 100)
      this.wake = finish
    })
  }

  /** Milliseconds to wait before `n` bytes may go out (0 = go, tokens taken). */
  private takeTokens(n: number): number {
    const rate = this.ctx.config.publishBytesPerSecond
    const capacity = Math.max(this.ctx.config.maxMessageBytes, rate / 4)
    const now = performance.now()
    this.tokens = Math.min(capacity, this.tokens + ((now - this.tokensAt) * rate) / 1000)
    this.tokensAt = now
    if (this.tokens >= n) {
      this.tokens -= n
      return 0
    }
    return Math.max(1, Math.ceil(((n - this.tokens) * 1000) / rate))
  }

  private async pump(): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    let sinceYield = 0
    let errorDelay = 100
    const m = this.ctx.metrics
    try {
      while (this.ctx.running()) {
        const queue = this.blockQueue.length > 0 ? this.blockQueue : this.txQueue
        let item = queue.first()
        if (item === undefined) break
        if (queue === this.txQueue && this.deferred.size > 0) {
          item = this.withDeferred(item)
          queue.replaceFirst(item)
        }
        const gossip = this.gossip()
        const topic = this.topicLabel(item.topic)
        if (gossip.readySubscribers(item.topic) === 0) {
          await this.waitForSubscribers()
          continue
        }
        const wait = this.takeTokens(item.data.byteLength)
        if (wait > 0) {
          await sleep(wait, this.ctx.stopSignal())
          continue
        }
        try {
          const out = await gossip.publish(item.topic, item.data)
          switch (out.kind) {
            case 'sent':
              queue.shift()
              m.count('gossipOut', { topic })
              m.count('gossipBytesOut', { topic }, item.data.byteLength)
              item.done(true)
              break
            case 'unsent':
              // Every send failed (streams closed under us); the bytes are now in gossipsub's seen cache.
              queue.shift()
              m.count('publishUnsent', { topic })
              gossip.heal()
              if (topic === 'tx') this.republish(queue, item)
              else {
                this.ctx.log.warn({ topic: item.topic }, 'gossip message reached no peer')
                item.done(false)
              }
              break
            case 'duplicate':
              queue.shift()
              // A block, vote or checkpoint seen before: the network has it. A tx batch: see republish.
              if (topic === 'tx') this.republish(queue, item)
              else item.done(true)
              break
            case 'no-peers':
              m.count('publishRetries', {})
              await this.waitForSubscribers()
              break
          }
          errorDelay = 100
        } catch (err) {
          if (!this.ctx.running()) break
          m.count('publishErrors', {})
          this.ctx.log.warn({ err: errMessage(err), topic: item.topic }, 'gossip publish failed; will retry')
          await sleep(errorDelay, this.ctx.stopSignal())
          errorDelay = Math.min(errorDelay * 2, 5000)
        }
        // Let sockets drain between publishes (measured best in the spike: yield every few dozen).
        if (++sinceYield >= 16) {
          sinceYield = 0
          await new Promise((r) => setImmediate(r))
        }
      }
    } finally {
      this.pumping = false
    }
  }
}
