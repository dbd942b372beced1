import {
  type Block,
  createBlock,
  createTransaction,
  type KeyPair,
  keyPairFromSeed,
  type ProfichainError,
  ProofError,
  signHeader,
  type Transaction,
  utf8,
  ZERO_HASH,
} from '../src/index.js'

/** Deterministic key from a one-byte tag (never use such keys outside tests). */
export function testKey(tag: number): KeyPair {
  return keyPairFromSeed(Uint8Array.from({ length: 32 }, (_, i) => (tag * 31 + i) & 0xff))
}

export const NETWORK = 'testnet'

export function makeTx(
  key: KeyPair,
  seq: number,
  payload = utf8(`payload ${seq}`),
  metadata: Record<string, string> = {},
): Transaction {
  return createTransaction(key, {
    network: NETWORK,
    seq,
    timestamp: 1_700_000_000_000 + seq,
    payload,
    metadata,
  })
}

/** A block of `txs`, sealed by `producer`. */
export function makeBlock(producer: KeyPair, txs: Transaction[], height = 1): Block {
  const block = createBlock({
    network: NETWORK,
    height,
    timestamp: 1_700_000_100_000 + height,
    prevHash: ZERO_HASH,
    producer: producer.publicKey,
    txs: txs.map((t) => ({ body: t.body, signature: t.signature })),
  })
  block.header.signatures.push(signHeader(block.header, producer))
  return block
}

/** The code of the ProofError `fn` throws ('no error' when it returns); any other error is rethrown. */
export function proofCode(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof ProofError)) throw err
    return (err as ProfichainError).code
  }
  return 'no error'
}
