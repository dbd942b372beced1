import { EventEmitter } from 'node:events'
import {
  type Block,
  blockHash,
  createBlock,
  type KeyPair,
  stripTx,
  toHex,
  type Transaction,
  txId,
} from '@profichain/core'
import type { ChainContext, Consensus } from '@profichain/consensus'
import type { AddBlockResult, HeadInfo, Mempool } from '@profichain/store'

/** What the producer needs from the chain store. */
export interface ProducerChain {
  head(): HeadInfo
  readonly mempool: Mempool
  addBlock(block: Block, opts: { payloads: Map<string, Uint8Array>; signaturesChecked: boolean }): Promise<AddBlockResult>
}

export interface ProducerComponents {
  chain: ProducerChain
  context: ChainContext
  consensus: Consensus
  key: KeyPair
  /** Merkle builds off the main thread (the worker pool); falls back to core when absent. */
  merkleRoot?: (txIds: Uint8Array[]) => Promise<Uint8Array>
  logger?: { info(o: object, m?: string): void; warn(o: object, m?: string): void; debug(o: object, m?: string): void }
}

export interface ProducerInit {
  /** Produce blocks with no txs when idle (default false: no empty-block spam). */
  emptyBlocks?: boolean
  /** Upper bound on txs per block, on top of the genesis byte limit. */
  maxTxsPerBlock?: number
  /** Upper bound on the payload bytes one block commits (payloads travel beside blocks). Default 256 MiB. */
  maxPayloadBytesPerBlock?: number
  /** How often to look again when there is nothing to do, ms. */
  idlePollMs?: number
}

export interface ProducedBlock {
  block: Block
  result: AddBlockResult
  sealMs: number
}

/** Block production loop driven by the consensus (DESIGN §1 producer). Emits 'block' (ProducedBlock). */
export class BlockProducer extends EventEmitter {
  private running = false
  private loop?: Promise<void>
  private abort?: AbortController
  private wake?: () => void
  produced = 0

  constructor(
    private readonly components: ProducerComponents,
    private readonly init: ProducerInit = {},
  ) {
    super()
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.abort = new AbortController()
    this.loop = this.run().catch((err) => {
      this.components.logger?.warn({ err }, 'producer loop stopped by an error')
      this.emit('error', err)
    })
  }

  /** Finish the block in flight, then stop. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.abort?.abort()
    this.wake?.()
    await this.loop
  }

  /** Called when new txs arrive, so an idle producer does not wait a full poll interval. */
  notify(): void {
    this.wake?.()
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, Math.max(0, ms))
      function done() {
        clearTimeout(t)
        resolve()
      }
      this.wake = done
    })
  }

  private async run(): Promise<void> {
    const { chain, consensus, key, context } = this.components
    const idle = this.init.idlePollMs ?? 50
    while (this.running) {
      const head = chain.head()
      const delay = await consensus.producerDelay(head.header, key.publicKey, context, Date.now())
      if (delay === null) {
        await this.sleep(consensus.genesis.blockTimeMs)
        continue
      }
      if (delay > 0) {
        await this.sleep(Math.min(delay, consensus.genesis.blockTimeMs))
        continue
      }
      if (chain.head().hash !== head.hash) continue
      const txs = await chain.mempool.select(
        this.byteBudget(),
        this.init.maxTxsPerBlock,
        this.init.maxPayloadBytesPerBlock ?? 256 * 1024 * 1024,
      )
      if (txs.length === 0 && !this.init.emptyBlocks) {
        await this.sleep(idle)
        continue
      }
      if (!this.running) break
      await this.produce(head, txs)
    }
  }

  /** Stripped-block budget: header, signatures and CBOR framing stay well under 1 KiB; the rest is for txs. */
  private byteBudget(): number {
    return this.components.consensus.genesis.maxBlockBytes - 1024
  }

  private async produce(head: HeadInfo, txs: Transaction[]): Promise<void> {
    const { chain, consensus, key, context } = this.components
    const t0 = performance.now()
    const stripped = txs.map(stripTx)
    const ids = stripped.map((t) => txId(t))
    const merkleRoot = this.components.merkleRoot ? await this.components.merkleRoot(ids) : undefined
    const timestamp = Math.max(Date.now(), head.header.timestamp + 1)
    const draft = createBlock({
      network: consensus.genesis.network,
      height: head.height + 1,
      timestamp,
      prevHash: blockHash(head.header),
      producer: key.publicKey,
      txs: stripped,
      merkleRoot,
    })
    const block = await consensus.seal(draft, head.header, key, context, this.abort?.signal)
    const payloads = new Map<string, Uint8Array>()
    for (let i = 0; i < txs.length; i++) payloads.set(toHex(ids[i]), txs[i].payload)
    const sealMs = performance.now() - t0
    const result = await chain.addBlock(block, { payloads, signaturesChecked: true })
    this.produced++
    this.components.logger?.info(
      { height: block.header.height, txs: txs.length, hash: toHex(blockHash(block.header)).slice(0, 16), sealMs: Math.round(sealMs) },
      'produced block',
    )
    this.emit('block', { block, result, sealMs } satisfies ProducedBlock)
  }
}

export function blockProducer(init: ProducerInit = {}): (components: ProducerComponents) => BlockProducer {
  return (components) => new BlockProducer(components, init)
}
