import {
  type Block,
  blockHash,
  createBlock,
  createTransaction,
  encodeBlock,
  encodeHeader,
  equalBytes,
  generateKeyPair,
  type KeyPair,
  stripTx,
  type Transaction,
  toHex,
  txId,
  type Vote,
} from '@profichain/core'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Node } from '../src/host.js'
import {
  type BlockVerdict,
  createNetwork,
  type NetworkComponents,
  type NetworkInit,
  type P2PNetwork,
  type SyncHandlers,
  type Verdict,
} from '../src/index.js'

export const NETWORK = 'nettest'

/** Poll `cond` until it is truthy or the deadline passes (then fail with `what`). */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await cond()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A tiny in-memory chain served by the sync handlers. */
export class MemChain {
  blocks: Block[] = []
  payloads = new Map<string, Uint8Array>()
  constructor(key: KeyPair, n: number, payloadBytes = 16) {
    let prev: Uint8Array = new Uint8Array(32)
    for (let h = 0; h < n; h++) {
      const txs = [0, 1].map((i) =>
        createTransaction(key, {
          network: NETWORK,
          seq: h * 2 + i,
          payload: new Uint8Array(payloadBytes).fill(h + i),
          timestamp: 1000 + h,
        }),
      )
      for (const t of txs) this.payloads.set(toHex(txId(t)), t.payload)
      const b = createBlock({
        network: NETWORK,
        height: h,
        timestamp: 1000 + h,
        prevHash: prev,
        producer: key.publicKey,
        txs: txs.map(stripTx),
      })
      prev = blockHash(b.header)
      this.blocks.push(b)
    }
  }
  handlers(): SyncHandlers {
    return {
      headers: (from, count) => this.blocks.slice(from, from + count).map((b) => encodeHeader(b.header)),
      block: (hash) => {
        const b = this.blocks.find((x) => equalBytes(blockHash(x.header), hash))
        return b ? encodeBlock(b) : null
      },
      blocks: (from, count) => this.blocks.slice(from, from + count).map(encodeBlock),
      payloads: (ids) => ids.map((id) => this.payloads.get(toHex(id)) ?? null),
      status: () => ({
        height: this.blocks.length - 1,
        headHash: blockHash(this.blocks[this.blocks.length - 1].header),
        genesisHash: blockHash(this.blocks[0].header),
      }),
    }
  }
}

export interface TestNode {
  key: KeyPair
  net: P2PNetwork
  chain: MemChain
  txBatches: Array<{ txs: Transaction[]; from: string }>
  blocks: Array<{ block: Block; from: string }>
  votes: Array<{ vote: Vote; from: string }>
  /** Verdict returned for each tx batch; default accept. */
  txVerdict: (txs: Transaction[]) => Verdict
  /** Verdict returned for each block; default accept. */
  blockVerdict: (block: Block) => BlockVerdict
}

export function makeKeys(n: number): KeyPair[] {
  return Array.from({ length: n }, () => generateKeyPair())
}

export function membersOf(keys: KeyPair[]) {
  return keys.map((k) => ({ publicKey: toHex(k.publicKey) }))
}

export async function startNode(
  key: KeyPair,
  init: Partial<NetworkInit> & { members: NetworkInit['members'] },
  chain?: MemChain,
  extra: Pick<NetworkComponents, 'registry'> = {},
): Promise<TestNode> {
  const node: TestNode = {
    key,
    chain: chain ?? new MemChain(key, 3),
    txBatches: [],
    blocks: [],
    votes: [],
    txVerdict: () => 'accept',
    blockVerdict: () => 'accept',
    net: undefined as unknown as P2PNetwork,
  }
  // Like the node: only member keys may originate records.
  const allowed = new Set(init.members.map((m) => m.publicKey.toLowerCase()))
  node.net = createNetwork(
    {
      network: NETWORK,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      redialBaseMs: 100,
      redialMaxMs: 1000,
      maintenanceIntervalMs: 500,
      ...init,
    },
    {
      ...extra,
      key,
      handlers: node.chain.handlers(),
      originAllowed: (origin) => allowed.has(toHex(origin)),
      onTxBatch: async (txs, from) => {
        const v = node.txVerdict(txs)
        if (v === 'accept') node.txBatches.push({ txs, from })
        return v
      },
      onBlock: async (block, from) => {
        const v = node.blockVerdict(block)
        if (v === 'accept') node.blocks.push({ block, from })
        return v
      },
      onVote: async (vote, from) => {
        node.votes.push({ vote, from })
        return 'accept' as const
      },
    },
  )
  await node.net.start()
  return node
}

export function connectedTo(a: TestNode, b: TestNode): boolean {
  return a.net.peers().some((p) => p.peerId === b.net.peerId)
}

type Internals = {
  streamsOutbound: Map<string, { rawStream: Stream }>
  createOutboundStream(peerId: PeerId, connection: Connection): Promise<void>
}
/** The gossipsub internals the adapter works around (tests only). */
export const internals = (n: Node) => n.services.pubsub as unknown as Internals

/** The libp2p node inside a P2PNetwork (tests only). */
export const nodeOf = (net: P2PNetwork) => (net as unknown as { node: Node }).node

/**
 * Replay the gossipsub race behind the "gossip after restart" bug: `from`'s gossipsub (re)creates its
 * outbound stream to `peer` on a connection that closes while the stream is being opened.
 */
export async function openOnClosingConnection(from: Node, peer: PeerId): Promise<void> {
  const ps = internals(from)
  const conn = from.getConnections(peer)[0]
  const dead = await conn.newStream(from.services.pubsub.protocols)
  dead.abort(new Error('connection closed while the stream was being opened'))
  ps.streamsOutbound.delete(peer.toString())
  const closing = { ...conn, remotePeer: conn.remotePeer, newStream: async () => dead } as unknown as Connection
  await ps.createOutboundStream(peer, closing)
}
