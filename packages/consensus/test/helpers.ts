import {
  type Block,
  type BlockHeader,
  blockHash,
  blockHashHex,
  createBlock,
  type KeyPair,
  keyPairFromSeed,
  signHeader,
  toHex,
} from '@profichain/core'
import type { ChainContext, Consensus } from '../src/index.js'

export const T0 = 1_700_000_000_000

/** Deterministic key pair from a small number. */
export function key(i: number): KeyPair {
  const seed = new Uint8Array(32)
  seed[0] = i & 0xff
  seed[1] = (i >> 8) & 0xff
  seed[31] = 0x5a
  return keyPairFromSeed(seed)
}

/** In-memory ChainContext: a Map hash → header. */
export class MemChain implements ChainContext {
  readonly headers = new Map<string, BlockHeader>()
  constructor(genesis?: BlockHeader) {
    if (genesis) this.add(genesis)
  }
  add(h: BlockHeader): void {
    this.headers.set(blockHashHex(h), h)
  }
  async ancestors(hash: Uint8Array, n: number): Promise<BlockHeader[]> {
    const out: BlockHeader[] = []
    let cur = this.headers.get(toHex(hash))
    while (cur !== undefined && out.length < n) {
      out.push(cur)
      if (cur.height === 0) break
      cur = this.headers.get(toHex(cur.prevHash))
    }
    return out
  }
}

/** An unsealed child block of `parent`. */
export function child(
  parent: BlockHeader,
  timestamp: number,
  producer: Uint8Array = new Uint8Array(32),
): Block {
  return createBlock({
    network: parent.network,
    height: parent.height + 1,
    timestamp,
    prevHash: blockHash(parent),
    producer,
    txs: [],
  })
}

/** A hand-made header signed by `signer` (defaults to the producer), for negative tests. */
export function manual(
  parent: BlockHeader,
  producer: KeyPair,
  fields: Partial<BlockHeader> & { timestamp: number },
  signer: KeyPair | null = producer,
): BlockHeader {
  const h: BlockHeader = {
    ...child(parent, fields.timestamp, producer.publicKey).header,
    difficulty: 0,
    nonce: 0,
    ...fields,
    signatures: [],
  }
  if (signer) h.signatures = [signHeader(h, signer)]
  return h
}

/** Seal a child with `c`, validate it and add it to the chain. */
export async function extend(
  c: Consensus,
  chain: MemChain,
  parent: BlockHeader,
  k: KeyPair,
  timestamp: number,
): Promise<BlockHeader> {
  const b = await c.seal(child(parent, timestamp), parent, k, chain)
  await c.validateHeader(b.header, parent, chain, timestamp)
  chain.add(b.header)
  return b.header
}
