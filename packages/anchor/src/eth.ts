import { EventEmitter } from 'node:events'
import { readFile } from 'node:fs/promises'
import { encodeEthCalldata, fromHex, toHex } from '@profichain/core'
import { JsonRpcProvider, Network, Transaction, Wallet, hexlify } from 'ethers'
import { Level } from 'level'
import { Counter, type Registry } from 'prom-client'
import { AnchorError } from './errors.js'
import type { AnchorProof, AnchorRequest, PublicAnchor, PublicAnchorEvents } from './types.js'

export interface EthAnchorInit {
  /** JSON-RPC URL of an Ethereum node (http(s)). */
  rpcUrl: string
  /** File holding the anchoring account's private key (hex, 0x optional). */
  keyFile?: string
  /** The key itself (tests, devnet); keyFile wins when both are set. */
  privateKey?: string
  /** Directory of the anchor's own LevelDB (in-flight anchor, confirmed anchors). */
  dir: string
  /** Depth (blocks including the tx's own) before an anchor counts; default 2. */
  confirmations?: number
  /** Gas limit of an anchor tx; default 60 000 (calldata of ≤ 256 bytes needs < 30 000). */
  gasLimit?: number
  /** Upper bound on maxFeePerGas in wei; the fee the node suggests is capped at it. Default 500 gwei. */
  maxFeePerGas?: bigint
  /** How often the chain is polled while waiting (ms); default 1000. */
  pollMs?: number
}

export interface EthAnchorComponents {
  registry?: Registry
  logger?: { info(o: object, msg?: string): void; warn(o: object, msg?: string): void }
}

/** On disk (key `inflight`, JSON, synced before the tx is broadcast): the signed tx, so a restart re-sends the very same one. */
interface InFlight {
  v: 1
  origin: string
  size: number
  root: string
  calldata: string
  raw: string
  txHash: string
  nonce: number
}

const INFLIGHT = 'inflight'
const ANCHOR = 'anchor:'
const sizeKey = (n: number) => `${ANCHOR}${n.toString().padStart(16, '0')}`

/** Error texts of JSON-RPC nodes (geth, ganache, erigon) for "the account cannot pay". */
const FUNDS_RE = /insufficient funds|sender doesn't have enough funds|gas \* price \+ value/i
const KNOWN_RE = /already known|known transaction|already imported|transaction already/i
const NONCE_LOW_RE = /nonce too low|nonce has already been used|the tx doesn't have the correct nonce/i

async function rpcChainId(url: string): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }), signal: AbortSignal.timeout(5000) })
  const body = (await res.json()) as { result?: string; error?: { message?: string } }
  if (typeof body.result !== 'string') throw new Error(body.error?.message ?? 'no result')
  return Number(BigInt(body.result))
}

function metricsOf(registry?: Registry) {
  const registers = registry ? [registry] : []
  return {
    submissions: new Counter({ name: 'profichain_anchor_submissions_total', help: 'Anchor transactions broadcast (re-broadcasts of the same tx included)', registers }),
    confirmed: new Counter({ name: 'profichain_anchor_confirmed_total', help: 'Anchors that reached the confirmation depth', registers }),
    failures: new Counter({ name: 'profichain_anchor_failures_total', help: 'Failed anchor attempts by reason (retried)', labelNames: ['reason'], registers }),
    reorgs: new Counter({ name: 'profichain_anchor_reorgs_total', help: 'Anchor txs that left the public chain before the confirmation depth (re-sent)', registers }),
    cost: new Counter({ name: 'profichain_anchor_cost_wei_total', help: 'What confirmed anchors cost: gas used × effective gas price (wei)', registers }),
  }
}

class EthAnchor extends EventEmitter<PublicAnchorEvents> implements PublicAnchor {
  readonly kind = 'eth'
  private readonly db: Level<string, string>
  private readonly confirmations: number
  private readonly gasLimit: number
  private readonly maxFee: bigint
  private readonly pollMs: number
  private readonly metrics: ReturnType<typeof metricsOf>
  private provider?: JsonRpcProvider
  private wallet?: Wallet
  private chainId = 0
  private closed = false
  private busy: Promise<unknown> = Promise.resolve()
  private wake?: () => void

  constructor(private readonly init: EthAnchorInit, private readonly components: EthAnchorComponents) {
    super()
    if (!/^https?:\/\//.test(init.rpcUrl)) throw new AnchorError('ERR_ANCHOR_CONFIG', `anchor rpc_url must be an http(s) URL, got "${init.rpcUrl}"`)
    this.confirmations = init.confirmations ?? 2
    this.gasLimit = init.gasLimit ?? 60_000
    this.maxFee = init.maxFeePerGas ?? 500_000_000_000n
    this.pollMs = init.pollMs ?? 1000
    if (!Number.isInteger(this.confirmations) || this.confirmations < 1) throw new AnchorError('ERR_ANCHOR_CONFIG', 'anchor confirmations must be an integer ≥ 1')
    if (!Number.isInteger(this.gasLimit) || this.gasLimit < 21_000 + 16 * 256 || this.gasLimit > 1_000_000) throw new AnchorError('ERR_ANCHOR_CONFIG', 'anchor gas_limit must be between 25 096 and 1 000 000')
    this.db = new Level<string, string>(init.dir, { valueEncoding: 'utf8' })
    this.metrics = metricsOf(components.registry)
  }

  async open(): Promise<void> {
    await this.db.open()
    let key = this.init.privateKey
    if (this.init.keyFile) {
      try {
        key = (await readFile(this.init.keyFile, 'utf8')).trim()
      } catch (err) {
        throw new AnchorError('ERR_ANCHOR_KEY', `cannot read the anchor key file ${this.init.keyFile}: ${(err as Error).message}`, {}, { cause: err })
      }
    }
    const hex = key?.startsWith('0x') ? key : `0x${key ?? ''}`
    if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new AnchorError('ERR_ANCHOR_KEY', 'the anchor key must be a 32-byte hex private key (one line, 0x optional)')
    this.wallet = new Wallet(hex)
  }

  get address(): string {
    return this.wallet?.address ?? ''
  }

  /** Connect lazily: learn the chain id (retried by the caller) and pin it, so ethers never re-detects the network. */
  private async connect(): Promise<{ provider: JsonRpcProvider; wallet: Wallet }> {
    if (!this.wallet) throw new AnchorError('ERR_ANCHOR_CONFIG', 'open() the anchor first')
    if (!this.provider) {
      let id: number
      try {
        id = await rpcChainId(this.init.rpcUrl)
      } catch (err) {
        throw new AnchorError('ERR_ANCHOR_RPC', `the Ethereum JSON-RPC endpoint ${this.init.rpcUrl} does not answer (${(err as Error).message}); retrying`, {}, { cause: err })
      }
      this.chainId = id
      this.provider = new JsonRpcProvider(this.init.rpcUrl, undefined, { staticNetwork: Network.from(id), batchMaxCount: 1, polling: false })
    }
    return { provider: this.provider, wallet: this.wallet.connect(this.provider) }
  }

  async inFlight(): Promise<AnchorRequest | undefined> {
    const f = await this.readInFlight()
    return f && { origin: f.origin, size: f.size, root: fromHex(f.root) }
  }

  private async readInFlight(): Promise<InFlight | undefined> {
    const v = await this.db.get(INFLIGHT)
    return v === undefined ? undefined : (JSON.parse(v) as InFlight)
  }

  async anchors(limit = 100): Promise<AnchorProof[]> {
    const out: AnchorProof[] = []
    for await (const v of this.db.values({ gte: ANCHOR, lt: `${ANCHOR}~`, reverse: true, limit })) out.push(JSON.parse(v) as AnchorProof)
    return out
  }

  async latest(): Promise<AnchorProof | undefined> {
    return (await this.anchors(1))[0]
  }

  /** Anchor `req` (after finishing an anchor left in flight); resolves once it is `confirmations` deep. */
  submit(req: AnchorRequest): Promise<AnchorProof> {
    const run = this.busy.then(() => this.run(req))
    this.busy = run.catch(() => undefined)
    return run
  }

  /** Finish an anchor left in flight by an earlier run (same tx, never a second payment); undefined when none. */
  resume(): Promise<AnchorProof | undefined> {
    const run = this.busy.then(async () => {
      const f = await this.readInFlight()
      return f ? this.follow(f) : undefined
    })
    this.busy = run.catch(() => undefined)
    return run
  }

  private async run(req: AnchorRequest): Promise<AnchorProof> {
    const left = await this.readInFlight()
    if (left) {
      const done = await this.follow(left)
      if (done.size === req.size && done.root === toHex(req.root)) return done
    }
    const have = await this.db.get(sizeKey(req.size))
    if (have && (JSON.parse(have) as AnchorProof).root === toHex(req.root)) return JSON.parse(have) as AnchorProof
    const f = await this.prepare(req)
    return this.follow(f)
  }

  /** Sign a new tx and persist it (synced) before anything is sent. */
  private async prepare(req: AnchorRequest): Promise<InFlight> {
    const calldata = encodeEthCalldata(req)
    const { provider, wallet } = await this.retry('prepare', () => this.connect())
    const nonce = await this.retry('nonce', () => provider.getTransactionCount(wallet.address, 'latest'))
    const fee = await this.retry('fee', () => provider.getFeeData())
    const tip = fee.maxPriorityFeePerGas ?? 1_000_000_000n
    let maxFee = fee.maxFeePerGas ?? (fee.gasPrice ?? 1_000_000_000n) * 2n
    if (maxFee > this.maxFee) maxFee = this.maxFee
    const tx = Transaction.from({
      type: 2,
      chainId: this.chainId,
      nonce,
      to: wallet.address,
      value: 0n,
      data: hexlify(calldata),
      gasLimit: BigInt(this.gasLimit),
      maxFeePerGas: maxFee,
      maxPriorityFeePerGas: tip < maxFee ? tip : maxFee,
    })
    const raw = await wallet.signTransaction(tx)
    const f: InFlight = { v: 1, origin: req.origin, size: req.size, root: toHex(req.root), calldata: toHex(calldata), raw, txHash: Transaction.from(raw).hash ?? '', nonce }
    await this.db.put(INFLIGHT, JSON.stringify(f), { sync: true })
    return f
  }

  /** Run `fn` until it succeeds; RPC failures are counted and retried, a lack of funds is thrown. */
  private async retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let delay = this.pollMs
    for (;;) {
      if (this.closed) throw new AnchorError('ERR_ANCHOR_STOPPED', 'the anchor service was stopped')
      try {
        return await fn()
      } catch (err) {
        if (err instanceof AnchorError && err.code !== 'ERR_ANCHOR_RPC') throw err
        this.metrics.failures.inc({ reason: 'rpc' })
        this.components.logger?.warn({ err: (err as Error).message, what }, 'anchor: JSON-RPC failed, retrying')
        this.emit('failure', new AnchorError('ERR_ANCHOR_RPC', `anchor ${what}: ${(err as Error).message}`, {}, { cause: err }))
        this.provider = undefined
        await this.pause(delay)
        delay = Math.min(delay * 2, 10 * this.pollMs)
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = undefined; resolve() }, ms)
      this.wake = () => { clearTimeout(t); this.wake = undefined; resolve() }
    })
  }

  /** Send the persisted tx (again); "already known" is success. */
  private async broadcast(f: InFlight): Promise<'sent' | 'nonce-used'> {
    const { provider } = await this.connect()
    try {
      await provider.broadcastTransaction(f.raw)
      this.metrics.submissions.inc()
      this.components.logger?.info({ txHash: f.txHash, size: f.size, nonce: f.nonce }, 'anchor: tx sent')
      this.emit('submitted', { txHash: f.txHash, size: f.size, nonce: f.nonce })
      return 'sent'
    } catch (err) {
      const msg = `${(err as Error).message} ${JSON.stringify((err as { info?: unknown }).info ?? '')}`
      if (KNOWN_RE.test(msg)) return 'sent'
      if (NONCE_LOW_RE.test(msg)) {
        // Only a nonce the chain has passed is "used": a too-high nonce (chain rolled back further) must wait,
        // or a new tx at a lower nonce could let this one be mined later too.
        const count = await provider.getTransactionCount(this.address, 'latest')
        if (count > f.nonce) return 'nonce-used'
        throw new AnchorError('ERR_ANCHOR_RPC', `anchor tx nonce ${f.nonce} is ahead of the account (${count}); waiting`)
      }
      if (FUNDS_RE.test(msg)) {
        this.metrics.failures.inc({ reason: 'funds' })
        throw new AnchorError('ERR_ANCHOR_FUNDS', `the anchor account ${this.address} cannot pay for the anchor tx (gas limit ${this.gasLimit}): fund it on chain ${this.chainId}; the anchor of checkpoint ${f.size} is kept and sent again`, { address: this.address }, { cause: err })
      }
      if ((err as { code?: string }).code === 'SERVER_ERROR' || (err as { code?: string }).code === 'TIMEOUT' || /ECONNREFUSED|fetch failed|socket|ECONNRESET/i.test(msg)) {
        throw new AnchorError('ERR_ANCHOR_RPC', msg, {}, { cause: err })
      }
      this.metrics.failures.inc({ reason: 'rejected' })
      throw new AnchorError('ERR_ANCHOR_REJECTED', `the Ethereum node refused the anchor tx: ${(err as Error).message}`, {}, { cause: err })
    }
  }

  /** Wait until the persisted tx is `confirmations` deep on the canonical chain; re-send it while it is not mined. */
  private async follow(f: InFlight): Promise<AnchorProof> {
    let sent = false
    let idle = 0
    let minedIn: string | undefined
    for (;;) {
      const step = await this.retry('follow', async (): Promise<{ again?: InFlight; proof?: AnchorProof } | undefined> => {
        const { provider } = await this.connect()
        const receipt = await provider.getTransactionReceipt(f.txHash)
        if (!receipt) {
          if (minedIn) {
            this.metrics.reorgs.inc()
            this.emit('reorg', { txHash: f.txHash, blockHash: minedIn })
            minedIn = undefined
            sent = false
          }
          // (Re-)send while it is not mined: a node may drop it from its pool (restart, reorg of a dev chain).
          if (!sent || ++idle >= 5) {
            idle = 0
            const r = await this.broadcast(f)
            if (r === 'nonce-used') {
              // Our nonce went to another tx, and ours is not on chain: it can never be mined, so a new one pays once.
              const nf = await this.prepare({ origin: f.origin, size: f.size, root: fromHex(f.root) })
              return { again: nf }
            }
            sent = true
          }
          return undefined
        }
        const head = await provider.getBlockNumber()
        const block = await provider.getBlock(receipt.blockNumber)
        if (!block || block.hash !== receipt.blockHash) return undefined
        const depth = head - receipt.blockNumber + 1
        if (minedIn !== receipt.blockHash) this.emit('mined', { txHash: f.txHash, blockNumber: receipt.blockNumber, depth })
        minedIn = receipt.blockHash
        if (depth < this.confirmations) return undefined
        if (receipt.status !== 1) throw new AnchorError('ERR_ANCHOR_REJECTED', `anchor tx ${f.txHash} was mined but failed (status ${receipt.status}); raise anchor gas_limit`)
        const tx = Transaction.from(f.raw)
        const proof: AnchorProof = {
          kind: 'eth',
          chainId: this.chainId,
          origin: f.origin,
          size: f.size,
          root: f.root,
          calldata: f.calldata,
          txHash: f.txHash,
          from: tx.from ?? '',
          to: tx.to ?? '',
          nonce: f.nonce,
          ethBlockNumber: receipt.blockNumber,
          ethBlockHash: receipt.blockHash,
          confirmations: depth,
          gasUsed: receipt.gasUsed.toString(),
          effectiveGasPrice: (receipt.gasPrice ?? 0n).toString(),
          anchoredAt: new Date().toISOString(),
        }
        return { proof }
      })
      if (step?.again) {
        f = step.again
        sent = false
        minedIn = undefined
        continue
      }
      if (step?.proof) {
        const p = step.proof
        await this.db.batch([{ type: 'put', key: sizeKey(p.size), value: JSON.stringify(p) }, { type: 'del', key: INFLIGHT }], { sync: true })
        this.metrics.confirmed.inc()
        this.metrics.cost.inc(Number(BigInt(p.gasUsed) * BigInt(p.effectiveGasPrice)))
        this.emit('anchored', p)
        return p
      }
      await this.pause(this.pollMs)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    this.wake?.()
    await this.busy
    this.provider?.destroy()
    await this.db.close()
  }
}

/** An Ethereum PublicAnchor (calldata anchors, docs/anchoring.md); call `open()` before use. */
export function createEthAnchor(init: EthAnchorInit, components: EthAnchorComponents = {}): PublicAnchor & { open(): Promise<void>; readonly address: string } {
  return new EthAnchor(init, components)
}


/** Confirmed anchors kept in an anchor DB directory (newest first), for a stopped node (`proof --data-dir`); [] if there is none. */
export async function readAnchors(dir: string, limit = 10_000): Promise<AnchorProof[]> {
  const db = new Level<string, string>(dir, { valueEncoding: 'utf8', createIfMissing: false })
  try {
    await db.open()
  } catch {
    return []
  }
  try {
    const out: AnchorProof[] = []
    for await (const v of db.values({ gte: ANCHOR, lt: `${ANCHOR}~`, reverse: true, limit })) out.push(JSON.parse(v) as AnchorProof)
    return out
  } finally {
    await db.close()
  }
}
