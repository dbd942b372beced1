import { EventEmitter } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AuthorityConsensus, createGenesis, type Genesis } from '@profichain/consensus'
import {
  type Block,
  blockHash,
  createBlock,
  createTransaction,
  type KeyPair,
  keyPairFromSeed,
  stripTx,
  type Transaction,
  txIdHex,
} from '@profichain/core'
import { BlockTree } from '@profichain/store'
import { Registry } from 'prom-client'
import type { ApiComponents } from '../src/index.js'

export const NETWORK = 'api-test'
const BLOCK_TIME = 1000

export function seedKey(n: number): KeyPair {
  const seed = new Uint8Array(32)
  seed[0] = n
  seed[31] = 9
  return keyPairFromSeed(seed)
}

/** A real BlockTree in a temp dir under authority consensus, with helpers to add blocks of fresh txs. */
export class TestChain {
  readonly events = new EventEmitter()
  readonly metrics = new Registry()
  readonly producer = seedKey(1)
  readonly seqs = new Map<string, number>()
  isReady = true
  anchor = 'http://127.0.0.1:1'
  private constructor(
    readonly dir: string,
    readonly genesis: Genesis,
    readonly consensus: AuthorityConsensus,
    readonly tree: BlockTree,
  ) {}

  static async open(): Promise<TestChain> {
    const dir = await mkdtemp(join(tmpdir(), 'profichain-api-'))
    const producer = seedKey(1)
    const genesis = createGenesis({
      network: NETWORK,
      validators: [producer],
      // The tests' record origins (seedKey(2..9)): only members may originate records.
      members: [2, 3, 4, 5, 6, 7, 8, 9].map((n) => ({
        name: `origin-${n}`,
        publicKey: Buffer.from(seedKey(n).publicKey).toString('hex'),
        roles: ['thin'],
      })),
      consensus: { type: 'authority', backoffMs: 500 },
      blockTimeMs: BLOCK_TIME,
      // Far enough back that every test block's timestamp is in the past.
      timestamp: Date.now() - 10_000_000_000,
    })
    const consensus = new AuthorityConsensus(genesis)
    const tree = await BlockTree.open({
      path: join(dir, 'db'),
      genesis,
      consensus,
      retention: { mode: 'all' },
    })
    return new TestChain(dir, genesis, consensus, tree)
  }

  /** A signed tx from `key` with the next sequence number of that origin. */
  tx(
    key: KeyPair,
    payload: Uint8Array | string,
    opts: { metadata?: Record<string, string>; kind?: 'record' | 'anchor'; timestamp?: number } = {},
  ): Transaction {
    const id = Buffer.from(key.publicKey).toString('hex')
    const seq = this.seqs.get(id) ?? 0
    this.seqs.set(id, seq + 1)
    return createTransaction(key, {
      network: NETWORK,
      seq,
      kind: opts.kind,
      timestamp: opts.timestamp,
      payload: typeof payload === 'string' ? new Uint8Array(Buffer.from(payload)) : payload,
      metadata: opts.metadata,
    })
  }

  /** Seal a block of `txs` on the head and add it (payloads included); returns the block. */
  async addBlock(txs: Transaction[]): Promise<Block> {
    const parent = this.tree.head().header
    const block = createBlock({
      network: NETWORK,
      height: parent.height + 1,
      timestamp: parent.timestamp + BLOCK_TIME,
      prevHash: blockHash(parent),
      producer: this.producer.publicKey,
      txs: txs.map(stripTx),
    })
    const sealed = await this.consensus.seal(block, parent, this.producer, this.tree.chain)
    const r = await this.tree.addBlock(sealed, {
      payloads: new Map(txs.map((t) => [txIdHex(t), t.payload])),
      signaturesChecked: true,
    })
    if (r.status !== 'added') throw new Error(`block not added: ${r.status}`)
    return sealed
  }

  components(overrides: Partial<ApiComponents> = {}): ApiComponents {
    return {
      tree: this.tree,
      status: () => ({
        type: 'full',
        nodeId: 'node-test',
        peerId: '12D3KooWtest',
        network: NETWORK,
        version: '0.1.0',
        syncing: false,
        peers: 1,
      }),
      peers: () => [
        {
          peerId: '12D3KooWpeer',
          publicKey: 'ab'.repeat(32),
          addrs: ['/ip4/127.0.0.1/tcp/7001'],
          direction: 'outbound',
        },
      ],
      events: this.events,
      metrics: this.metrics,
      anchorBase: () => this.anchor,
      ready: () => this.isReady,
      ...overrides,
    }
  }

  async close(): Promise<void> {
    await this.tree.close()
    await rm(this.dir, { recursive: true, force: true })
  }
}

/** POST a GraphQL request; returns the HTTP status and parsed body. */
export async function gql(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{
  status: number
  body: {
    data?: any
    errors?: Array<{ message: string; extensions?: { code?: string } & Record<string, unknown> }>
  }
}> {
  const r = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  })
  return { status: r.status, body: (await r.json()) as any }
}

/** Resolve when `cond()` holds, polling; reject after the deadline. */
export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}
