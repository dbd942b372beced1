import type { TxKind } from './limits.js'
import type { StrippedTx, Transaction, TxBody } from './transaction.js'

/**
 * The record objects core builds (decoded, created, stripped): plain data with the same enumerable fields, in the
 * same order, as the object literals they replace, plus private memo fields — the body's encoding, the stripped
 * and full encodings, the txId, its hex and its Merkle leaf hash, the payload's SHA-256. These memos were WeakMap entries, three per decoded record at once:
 * ≈ 4 of a 1 KiB record's ≈ 7 µs of `decodeTransaction` (micro-measured), and ephemeron-table work for every
 * GC after. A private field is not enumerable, not copied by a spread or structured clone, and invisible to
 * deep equality, so a copy or a clone simply has no memo, exactly as with the WeakMaps.
 *
 * Objects built elsewhere (literals, spreads) still memoise through the WeakMaps: every accessor below looks at
 * the private field when the object has it, and at its WeakMap otherwise — the same answers either way.
 * The objects are treated as immutable once encoded, as before (build a new object to change one).
 */

const bodyEnc = new WeakMap<TxBody, Uint8Array>()
const strippedEnc = new WeakMap<StrippedTx, Uint8Array>()
const txEnc = new WeakMap<Transaction, Uint8Array>()
const idMemo = new WeakMap<StrippedTx, Uint8Array>()
const idHexMemo = new WeakMap<StrippedTx, string>()
const leafMemo = new WeakMap<StrippedTx, Uint8Array>()

/** A tx body with its encoding's memo. */
export class TxBodyObject implements TxBody {
  #enc: Uint8Array | undefined = undefined

  constructor(
    public version: number,
    public network: string,
    public kind: TxKind,
    public origin: Uint8Array,
    public seq: number,
    public timestamp: number,
    public payloadHash: Uint8Array,
    public payloadSize: number,
    public metadata: Record<string, string>,
  ) {}

  /** The memoised encoding of `b`, if any. */
  static enc(b: TxBody): Uint8Array | undefined {
    return #enc in b ? b.#enc : bodyEnc.get(b)
  }

  static setEnc(b: TxBody, enc: Uint8Array): void {
    if (#enc in b) b.#enc = enc
    else bodyEnc.set(b, enc)
  }
}

/** A stripped tx [body, signature] with its memos: stripped encoding, txId, txId hex, Merkle leaf hash. */
export class StrippedTxObject implements StrippedTx {
  #stripped: Uint8Array | undefined = undefined
  #id: Uint8Array | undefined = undefined
  #idHex: string | undefined = undefined
  #leaf: Uint8Array | undefined = undefined

  constructor(
    public body: TxBody,
    public signature: Uint8Array,
  ) {}

  static stripped(tx: StrippedTx): Uint8Array | undefined {
    return #stripped in tx ? tx.#stripped : strippedEnc.get(tx)
  }

  static setStripped(tx: StrippedTx, enc: Uint8Array): void {
    if (#stripped in tx) tx.#stripped = enc
    else strippedEnc.set(tx, enc)
  }

  static id(tx: StrippedTx): Uint8Array | undefined {
    return #id in tx ? tx.#id : idMemo.get(tx)
  }

  static setId(tx: StrippedTx, id: Uint8Array): void {
    if (#id in tx) tx.#id = id
    else idMemo.set(tx, id)
  }

  static idHex(tx: StrippedTx): string | undefined {
    return #idHex in tx ? tx.#idHex : idHexMemo.get(tx)
  }

  static setIdHex(tx: StrippedTx, hex: string): void {
    if (#idHex in tx) tx.#idHex = hex
    else idHexMemo.set(tx, hex)
  }

  /** The memoised Merkle leaf hash of the tx's id (block.ts txLeafHash). */
  static leaf(tx: StrippedTx): Uint8Array | undefined {
    return #leaf in tx ? tx.#leaf : leafMemo.get(tx)
  }

  static setLeaf(tx: StrippedTx, leaf: Uint8Array): void {
    if (#leaf in tx) tx.#leaf = leaf
    else leafMemo.set(tx, leaf)
  }
}

/** A full transaction [stripped, payload]: the stripped memos plus the full encoding's and its payload's SHA-256. */
export class TransactionObject extends StrippedTxObject implements Transaction {
  #enc: Uint8Array | undefined = undefined
  #payloadHash: Uint8Array | undefined = undefined

  constructor(
    body: TxBody,
    signature: Uint8Array,
    public payload: Uint8Array,
  ) {
    super(body, signature)
  }

  static enc(tx: Transaction): Uint8Array | undefined {
    return #enc in tx ? tx.#enc : txEnc.get(tx)
  }

  static setEnc(tx: Transaction, enc: Uint8Array): void {
    if (#enc in tx) tx.#enc = enc
    else txEnc.set(tx, enc)
  }

  /** The memoised SHA-256 of `tx.payload`, kept on the tx object; undefined for any other object (see payloadHashOf). */
  static payloadHash(tx: Transaction): Uint8Array | undefined {
    return #payloadHash in tx ? tx.#payloadHash : undefined
  }

  /** Set the payload-hash memo; false when `tx` has no such field (the caller uses the per-payload memo). */
  static setPayloadHash(tx: Transaction, hash: Uint8Array): boolean {
    if (!(#payloadHash in tx)) return false
    tx.#payloadHash = hash
    return true
  }
}
