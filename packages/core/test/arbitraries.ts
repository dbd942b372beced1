import fc from 'fast-check'
import {
  type Block,
  type BlockHeader,
  FORMAT_VERSION,
  LIMITS,
  type StrippedTx,
  type Transaction,
  TX_KINDS,
  type TxBody,
} from '../src/index.js'

/** Shared fast-check arbitraries for core structures (every field, within LIMITS). */

const byteLen = (s: string) => Buffer.byteLength(s)
/** Well-formed Unicode text of at most `max` UTF-8 bytes (lone surrogates do not round-trip through UTF-8). */
export const text = (max: number) =>
  fc.string({ unit: 'binary', maxLength: max }).filter((s) => byteLen(s) <= max)

export const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
export const u = fc.oneof(
  fc.nat({ max: 23 }),
  fc.nat({ max: 0xff }),
  fc.nat({ max: 0xffff }),
  fc.nat({ max: 0xffffffff }),
  fc.maxSafeNat(),
)

export const metadataArb = fc.dictionary(
  fc.oneof(
    text(LIMITS.metadataKeyBytes),
    fc.constantFrom('__proto__', 'constructor', 'path', '0', '10', 'a', 'aa', 'b'),
  ),
  fc.oneof(text(40), text(LIMITS.metadataValueBytes)),
  { maxKeys: LIMITS.metadataEntries, noNullPrototype: true },
)

export const txBodyArb: fc.Arbitrary<TxBody> = fc.record({
  version: fc.constant(FORMAT_VERSION),
  network: text(LIMITS.networkIdBytes),
  kind: fc.constantFrom(...TX_KINDS),
  origin: bytes(32),
  seq: u,
  timestamp: u,
  payloadHash: bytes(32),
  payloadSize: u,
  metadata: metadataArb,
})

export const strippedTxArb: fc.Arbitrary<StrippedTx> = fc.record({ body: txBodyArb, signature: bytes(64) })

export const transactionArb: fc.Arbitrary<Transaction> = fc.record({
  body: txBodyArb,
  signature: bytes(64),
  payload: fc.uint8Array({ maxLength: 2048 }),
})

export const headerArb: fc.Arbitrary<BlockHeader> = fc.record({
  version: fc.constant(FORMAT_VERSION),
  network: text(LIMITS.networkIdBytes),
  height: u,
  timestamp: u,
  prevHash: bytes(32),
  merkleRoot: bytes(32),
  txCount: u,
  difficulty: u,
  nonce: u,
  producer: bytes(32),
  signatures: fc.array(fc.record({ signer: bytes(32), signature: bytes(64) }), { maxLength: 5 }),
})

export const blockArb: fc.Arbitrary<Block> = fc
  .tuple(headerArb, fc.array(strippedTxArb, { maxLength: 6 }))
  .map(([header, txs]) => ({ header: { ...header, txCount: txs.length }, txs }))
