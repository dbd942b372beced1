import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect } from 'vitest'
import { type Consensus, ConsensusError, defaultOrigin, type Genesis, GENESIS_DEFAULTS } from '@profichain/consensus'
import {
  type Block,
  type BlockHeader,
  blockHash,
  createBlock,
  createTransaction,
  type KeyPair,
  keyPairFromSeed,
  signHeader,
  stripTx,
  type Transaction,
  txIdHex,
} from '@profichain/core'
import { BlockTree, type BlockTreeInit } from '../src/index.js'

export const NETWORK = 'store-test'

export function seedKey(n: number): KeyPair {
  const seed = new Uint8Array(32)
  seed[0] = n
  seed[31] = 7
  return keyPairFromSeed(seed)
}

export const producer = seedKey(1)
export const origin = seedKey(2)

export function makeGenesis(network = NETWORK): Genesis {
  return {
    version: 1,
    network,
    origin: defaultOrigin(network),
    checkpoint: { depth: GENESIS_DEFAULTS.checkpoint.depth, intervalMs: GENESIS_DEFAULTS.checkpoint.intervalMs },
    timestamp: 1_700_000_000_000,
    members: [
      { name: 'p', publicKey: Buffer.from(producer.publicKey).toString('hex'), roles: ['validator'] },
      // The test txs' origin: only members may originate records.
      { name: 'o', publicKey: Buffer.from(origin.publicKey).toString('hex'), roles: ['thin'] },
    ],
    validators: [Buffer.from(producer.publicKey).toString('hex')],
    consensus: { type: 'authority', backoffMs: 500 },
    blockTimeMs: 1000,
    maxBlockBytes: 64 * 1024 * 1024,
    maxTxBytes: 1024 * 1024,
  }
}

/**
 * Test-only consensus: work = difficulty + 1; headers must have a later-or-equal timestamp; a header is final
 * once it carries `finalSigs` signatures (0: never).
 */
export function testConsensus(genesis: Genesis, finalSigs = 0): Consensus {
  return {
    type: 'work',
    genesis,
    seal: async (b: Block) => b,
    async validateHeader(h: BlockHeader, parent: BlockHeader) {
      if (h.timestamp < parent.timestamp)
        throw new ConsensusError('ERR_HEADER_TIMESTAMP_EARLY', 'timestamp before parent', { height: h.height })
      if (h.nonce === 666)
        throw new ConsensusError('ERR_HEADER_NONCE', 'nonce 666 is refused by the test consensus', { height: h.height })
    },
    work: (h: BlockHeader) => BigInt(h.difficulty + 1),
    producerDelay: async () => 0,
    isFinal: (h: BlockHeader) => finalSigs > 0 && h.signatures.length >= finalSigs,
  }
}

let seq = 0
export function makeTx(
  payloadText?: string,
  metadata: Record<string, string> = {},
  key: KeyPair = origin,
): Transaction {
  const s = seq++
  return createTransaction(key, {
    network: NETWORK,
    seq: s,
    timestamp: 1_700_000_001_000 + s,
    payload: new Uint8Array(Buffer.from(payloadText ?? `payload ${s}`)),
    metadata,
  })
}

export interface ChildInit {
  txs?: Transaction[]
  difficulty?: number
  nonce?: number
  /** Extra signers (quorum tests). */
  cosigners?: KeyPair[]
}

/** A block on top of `parent`, signed by the test producer. */
export function child(parent: BlockHeader, init: ChildInit = {}): Block {
  const b = createBlock({
    network: NETWORK,
    height: parent.height + 1,
    timestamp: parent.timestamp + 1000,
    prevHash: blockHash(parent),
    producer: producer.publicKey,
    difficulty: init.difficulty ?? 0,
    nonce: init.nonce ?? 0,
    txs: (init.txs ?? []).map(stripTx),
  })
  b.header.signatures.push(signHeader(b.header, producer))
  for (const k of init.cosigners ?? []) b.header.signatures.push(signHeader(b.header, k))
  return b
}

export function payloadsOf(txs: Transaction[]): Map<string, Uint8Array> {
  return new Map(txs.map((t) => [txIdHex(t), t.payload]))
}

/** A child of `parent` holding `txs` (their payloads given) added to `tree`: the block and what addBlock said. */
export async function addChild(tree: BlockTree, parent: BlockHeader, txs: Transaction[], difficulty = 0): Promise<{ block: Block; status: string }> {
  const block = child(parent, { txs, difficulty })
  const { status } = await tree.addBlock(block, { payloads: payloadsOf(txs) })
  return { block, status }
}

/** A child of `parent` holding `txs` that `tree` must refuse with a ConsensusError and not store: the error. */
export async function refusedChild(tree: BlockTree, parent: BlockHeader, txs: Transaction[]): Promise<ConsensusError> {
  const block = child(parent, { txs })
  const err = await tree.addBlock(block, { payloads: payloadsOf(txs) }).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ConsensusError)
  expect(await tree.hasBlock(blockHash(block.header))).toBe(false)
  return err as ConsensusError
}

export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'pc-store-'))
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) }
}

export async function openTree(path: string, extra: Partial<BlockTreeInit> = {}): Promise<BlockTree> {
  const genesis = extra.genesis ?? makeGenesis()
  return BlockTree.open({ path, genesis, consensus: extra.consensus ?? testConsensus(genesis), ...extra })
}

/**
 * A fresh temp dir and a tree opened on it before each test; after it, the tree (`t.tree`, which a test may
 * reopen on `t.dir.path`) is closed and the dir removed.
 */
export function useTree(): { dir: { path: string; cleanup: () => Promise<void> }; tree: BlockTree } {
  const t = {} as { dir: { path: string; cleanup: () => Promise<void> }; tree: BlockTree }
  beforeEach(async () => {
    t.dir = await tempDir()
    t.tree = await openTree(t.dir.path)
  })
  afterEach(async () => {
    await t.tree.close()
    await t.dir.cleanup()
  })
  return t
}
