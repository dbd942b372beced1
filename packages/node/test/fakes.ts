import { type Block, blockHash, createBlock, createTransaction, generateKeyPair, type KeyPair, stripTx, toHex, type Transaction, txId } from '@profichain/core'
import { defaultOrigin, type Genesis, GENESIS_DEFAULTS } from '@profichain/consensus'
import type { AddBlockResult, DeferredReceipt, HeadInfo, Mempool, Outbox, TxLocation } from '@profichain/store'
import { pino } from 'pino'
import { afterEach } from 'vitest'

export const NETWORK = 'fakenet'
export const silent = pino({ level: 'silent' })

export function record(key: KeyPair, seq: number, text = `record ${seq}`): Transaction {
  return createTransaction(key, { network: NETWORK, seq, payload: new TextEncoder().encode(text), metadata: { source: 'file', path: `f${seq}.txt` } })
}

/** A chain of blocks on top of `prev` (height of the first = prevHeight + 1), one tx list per block. */
export function blocksOn(prev: { hash: Uint8Array; height: number }, txsPerBlock: Transaction[][], producer = generateKeyPair()): Block[] {
  const out: Block[] = []
  let hash = prev.hash
  let height = prev.height
  for (const txs of txsPerBlock) {
    height++
    const b = createBlock({ network: NETWORK, height, timestamp: 1_700_000_000_000 + height * 1000, prevHash: hash, producer: producer.publicKey, txs: txs.map((t) => stripTx(t)) })
    out.push(b)
    hash = blockHash(b.header)
  }
  return out
}

export const GENESIS_LIKE = { hash: new Uint8Array(32), height: 0 }

/** An in-memory outbox: uncommitted until `canonical` holds the tx, confirmed once it does. */
export class FakeOutbox implements Outbox {
  readonly txs = new Map<string, Transaction>()
  readonly deferred = new Map<string, DeferredReceipt>()
  readonly acked: string[] = []
  constructor(private readonly locate: (id: string) => TxLocation | undefined) {}
  async add(tx: Transaction) {
    return (await this.addMany([{ tx }]))[0]
  }
  async addMany(items: Array<{ tx: Transaction }>) {
    return items.map(({ tx }) => {
      const id = toHex(txId(tx))
      const duplicate = this.txs.has(id)
      if (!duplicate) this.txs.set(id, tx)
      return { txId: id, duplicate }
    })
  }
  async lookup() {
    return undefined
  }
  async lookupMany(keys: string[]) {
    return keys.map(() => undefined)
  }
  async nextSeq() {
    return 0
  }
  async uncommitted() {
    return [...this.txs.entries()].filter(([id]) => !this.locate(id)).map(([, tx]) => tx)
  }
  async confirmed() {
    return [...this.txs.keys()].map((id) => this.locate(id)).filter((l): l is TxLocation => l !== undefined)
  }
  async ack(ids: string[]) {
    for (const id of ids) this.txs.delete(id)
    this.acked.push(...ids)
  }
  async deferReceipts(items: Array<{ txId: string; code: string; message: string }>) {
    for (const i of items) {
      this.txs.delete(i.txId)
      const old = this.deferred.get(i.txId)
      this.deferred.set(i.txId, { ...i, attempts: (old?.attempts ?? 0) + 1, firstFailedAt: old?.firstFailedAt ?? 0, lastFailedAt: 0 })
    }
  }
  async deferredReceipts() {
    return [...this.deferred.values()]
  }
  async clearDeferred(ids: string[]) {
    for (const id of ids) this.deferred.delete(id)
  }
  async deferredCount() {
    return this.deferred.size
  }
  async size() {
    return this.txs.size
  }
}

export class FakeMempool implements Mempool {
  readonly txs: Transaction[] = []
  async add(txs: Transaction[]) {
    this.txs.push(...txs)
    return txs.length
  }
  async select() {
    return []
  }
  size() {
    return this.txs.length
  }
}

/**
 * An in-memory block store with a real fork choice for the cases the tests need: a block whose parent
 * is unknown is an orphan; a block on the head extends it; a longer branch elsewhere is a reorg.
 */
export class FakeStore {
  readonly blocks = new Map<string, Block>()
  readonly payloads = new Map<string, Uint8Array>()
  /** Canonical chain, index = height (0 = the genesis-like root). */
  canonical: Uint8Array[] = [GENESIS_LIKE.hash]
  readonly outbox = new FakeOutbox((id) => this.locate(id))
  readonly mempool = new FakeMempool()
  readonly acks: Array<{ height: number; hash: string }> = []

  head(): HeadInfo {
    const hash = this.canonical[this.canonical.length - 1]
    return { hash, height: this.canonical.length - 1, header: this.blocks.get(toHex(hash))?.header as HeadInfo['header'], totalWork: 0n }
  }
  async hasBlock(hash: Uint8Array) {
    return this.blocks.has(toHex(hash)) || toHex(hash) === toHex(GENESIS_LIKE.hash)
  }
  async getBlock(hash: Uint8Array) {
    return this.blocks.get(toHex(hash))
  }
  async getBlockByHeight(h: number) {
    const hash = this.canonical[h]
    return hash && this.blocks.get(toHex(hash))
  }
  async getHeaderByHeight(h: number) {
    return (await this.getBlockByHeight(h))?.header
  }
  async getPayload(id: string) {
    return this.payloads.get(id)
  }
  async hasPayload(id: Uint8Array | string) {
    return this.payloads.has(typeof id === 'string' ? id : toHex(id))
  }
  async putPayload(id: Uint8Array | string, p: Uint8Array) {
    this.payloads.set(typeof id === 'string' ? id : toHex(id), p)
  }
  async addBlock(block: Block, opts: { payloads?: Map<string, Uint8Array> } = {}): Promise<AddBlockResult> {
    const hash = blockHash(block.header)
    const key = toHex(hash)
    if (this.blocks.has(key)) return { status: 'duplicate', head: this.head(), connected: [], newCanonical: [] }
    if (!(await this.hasBlock(block.header.prevHash))) return { status: 'orphan', head: this.head(), connected: [], newCanonical: [] }
    this.blocks.set(key, block)
    for (const [id, p] of opts.payloads ?? []) this.payloads.set(id, p)
    // The branch ending in this block, back to a canonical ancestor.
    const branch: Block[] = [block]
    let prev = block.header.prevHash
    while (toHex(this.canonical[branch[0].header.height - 1] ?? new Uint8Array()) !== toHex(prev)) {
      const b = this.blocks.get(toHex(prev)) as Block
      branch.unshift(b)
      prev = b.header.prevHash
    }
    const base = branch[0].header.height - 1
    if (block.header.height <= this.head().height) return { status: 'added', head: this.head(), connected: [hash], newCanonical: [] }
    const oldHead = this.head()
    const depth = oldHead.height - base
    const removedTxIds: string[] = []
    for (let h = base + 1; h <= oldHead.height; h++) for (const t of (await this.getBlockByHeight(h))?.txs ?? []) removedTxIds.push(toHex(txId(t)))
    this.canonical = [...this.canonical.slice(0, base + 1), ...branch.map((b) => blockHash(b.header))]
    return {
      status: 'added',
      head: this.head(),
      connected: [hash],
      newCanonical: branch,
      reorg: depth > 0 ? { depth, oldHead: oldHead.hash, newHead: hash, removedTxIds, addedTxIds: [] } : undefined,
    }
  }
  locate(id: string): TxLocation | undefined {
    for (let h = 1; h < this.canonical.length; h++) {
      const b = this.blocks.get(toHex(this.canonical[h])) as Block
      const index = b.txs.findIndex((t) => toHex(txId(t)) === id)
      if (index >= 0) return { tx: b.txs[index], txId: id, blockHash: this.canonical[h], height: h, index }
    }
    return undefined
  }
  async getTx(id: string) {
    return this.locate(id)
  }
  async receiptAt(loc: TxLocation) {
    return { txId: loc.txId, block: toHex(loc.blockHash), height: loc.height }
  }
  async receipt(id: string) {
    const loc = this.locate(id)
    return loc && this.receiptAt(loc)
  }
  async acknowledge(point: { height: number; hash: string }) {
    this.acks.push(point)
  }
}

/** Poll (every `everyMs`) until truthy or the deadline passes. */
export async function waitFor<T>(what: string, cond: () => T | Promise<T>, timeoutMs = 5000, everyMs = 5): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await cond()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** waitFor for real nodes (LevelDB, libp2p): 20 s deadline, polled every 25 ms. */
export function waitForLive<T>(what: string, cond: () => T | Promise<T>): Promise<T> {
  return waitFor(what, cond, 20_000, 25)
}

/** A list of stop functions run after each test of the calling file, last pushed first, errors ignored. */
export function stopAfterEach(): Array<() => Promise<unknown>> {
  const stops: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    for (const f of stops.splice(0).reverse()) await f().catch(() => {})
  })
  return stops
}

/** A quorum genesis of `keys` (all validators, threshold 3 by default), as the vote and liveness tests build it. */
export function quorumGenesis(
  network: string,
  keys: KeyPair[],
  opts: { threshold?: number; timestamp?: number; blockTimeMs?: number } = {},
): Genesis {
  return {
    version: 1,
    network,
    origin: defaultOrigin(network),
    checkpoint: { depth: GENESIS_DEFAULTS.checkpoint.depth, intervalMs: GENESIS_DEFAULTS.checkpoint.intervalMs },
    timestamp: opts.timestamp ?? 1_700_000_000_000,
    members: keys.map((k, i) => ({ name: `v${i}`, publicKey: toHex(k.publicKey), roles: ['validator'] })),
    validators: keys.map((k) => toHex(k.publicKey)),
    consensus: { type: 'quorum', threshold: opts.threshold ?? 3, backoffMs: 500 },
    blockTimeMs: opts.blockTimeMs ?? 1000,
    maxBlockBytes: 1024 * 1024,
    maxTxBytes: 1024,
  }
}
