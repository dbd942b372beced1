import { concatBytes, equalBytes, fromHex, isHex, toHex, utf8 } from './bytes.js'
import { ProofError } from './errors.js'
import { sha256 } from './hash.js'
import { blockLogPathOps, blockLogRootOfPath } from './block-log-path.js'
import { inclusionSteps, leafHash, nodeHash } from './merkle.js'
import { type ChainpointOp, type ChainpointProof, type ChainpointVerification, evaluateChainpoint, type NativeReceipt, verifyChainpointReceipt } from './receipt.js'

/**
 * Public-chain anchors (DESIGN §13, docs/anchoring.md). A network's cosigned checkpoint root goes into an
 * Ethereum transaction's calldata, laid out so that one Chainpoint `l` op and one `sha-256` lead from the
 * root to SHA-256(calldata):
 *
 *     calldata = "profichain-eth" (14 bytes ASCII) ‖ version (1 byte, 0x01) ‖ origin length (1 byte)
 *              ‖ origin (UTF-8, 1..200 bytes) ‖ checkpoint size (u64 big-endian) ‖ root (32 bytes)
 *
 * Chainpoint has no keccak op, so the branch ends at SHA-256(calldata) with an `eth` anchor whose
 * `anchor_id` is the transaction hash (64 hex, no 0x): a verifier fetches the tx and compares
 * SHA-256(tx.data) with the branch's expected value (`profichain verify --eth-rpc URL`).
 */

export const ETH_CALLDATA_MAGIC = utf8('profichain-eth')
export const ETH_CALLDATA_VERSION = 1
export const MAX_ETH_ORIGIN_BYTES = 200
/** Label of the nested Chainpoint branch (like Chainpoint's own `btc_anchor_branch`). */
export const ETH_BRANCH_LABEL = 'eth_anchor_branch'
const MAX_CALLDATA = ETH_CALLDATA_MAGIC.byteLength + 2 + MAX_ETH_ORIGIN_BYTES + 8 + 32

export interface EthCalldata {
  origin: string
  size: number
  root: Uint8Array
}

/** Encode the calldata of an anchor transaction (layout above). */
export function encodeEthCalldata(c: EthCalldata): Uint8Array {
  const origin = utf8(c.origin)
  if (origin.byteLength < 1 || origin.byteLength > MAX_ETH_ORIGIN_BYTES) throw new ProofError('ERR_RECEIPT_BUILD', `anchor origin must be 1..${MAX_ETH_ORIGIN_BYTES} bytes`)
  if (!Number.isSafeInteger(c.size) || c.size < 1) throw new ProofError('ERR_RECEIPT_BUILD', 'anchor checkpoint size must be a positive integer')
  if (!(c.root instanceof Uint8Array) || c.root.byteLength !== 32) throw new ProofError('ERR_RECEIPT_BUILD', 'anchor root must be 32 bytes')
  const size = new Uint8Array(8)
  new DataView(size.buffer).setBigUint64(0, BigInt(c.size))
  return concatBytes(ETH_CALLDATA_MAGIC, Uint8Array.of(ETH_CALLDATA_VERSION, origin.byteLength), origin, size, c.root)
}

/** Decode anchor calldata; throws ProofError ERR_RECEIPT_FORMAT on anything else (never anything untyped). */
export function decodeEthCalldata(bytes: Uint8Array): EthCalldata {
  const bad = (msg: string) => new ProofError('ERR_RECEIPT_FORMAT', `not Profichain anchor calldata: ${msg}`)
  const m = ETH_CALLDATA_MAGIC.byteLength
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < m + 2 + 1 + 8 + 32 || bytes.byteLength > MAX_CALLDATA) throw bad('wrong length')
  if (!equalBytes(bytes.subarray(0, m), ETH_CALLDATA_MAGIC)) throw bad('magic "profichain-eth" missing')
  if (bytes[m] !== ETH_CALLDATA_VERSION) throw bad(`unknown version ${bytes[m]}`)
  const n = bytes[m + 1]
  if (n < 1 || n > MAX_ETH_ORIGIN_BYTES || bytes.byteLength !== m + 2 + n + 8 + 32) throw bad('origin length does not match the data')
  let origin: string
  try {
    origin = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(m + 2, m + 2 + n))
  } catch {
    throw bad('origin is not UTF-8')
  }
  const sizeBig = new DataView(bytes.buffer, bytes.byteOffset + m + 2 + n, 8).getBigUint64(0)
  if (sizeBig < 1n || sizeBig > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('checkpoint size out of range')
  return { origin, size: Number(sizeBig), root: bytes.slice(m + 2 + n + 8) }
}

/** What an eth anchor adds to a receipt of a record in block `blockLogIndex`. */
export interface EthAnchorInput {
  /** EIP-155 chain id of the public chain. */
  chainId: number
  /** Transaction hash (0x-prefixed or bare hex, 32 bytes). */
  txHash: string
  /** The anchor transaction's calldata (encodeEthCalldata). */
  calldata: Uint8Array
  /** Block of the public chain holding the tx, and the depth it had when the receipt was written. */
  ethBlockNumber: number
  ethBlockHash: string
  confirmations: number
  /** Sender and recipient of the tx (the recipient is the sender itself for calldata anchors). */
  from: string
  to: string
  nonce: number
  gasUsed: string
  effectiveGasPrice: string
  /** The record's block height (leaf index in the block log) and the audit path to the root in the calldata. */
  blockLogIndex: number
  blockLogPath: Uint8Array[]
}

function bareTxHash(h: string): string {
  const x = h.startsWith('0x') ? h.slice(2) : h
  if (x.length !== 64 || !isHex(x)) throw new ProofError('ERR_RECEIPT_BUILD', 'eth tx hash must be 32 bytes hex')
  return x.toLowerCase()
}

function checkInput(blockHash: Uint8Array, e: EthAnchorInput): EthCalldata {
  const c = decodeEthCalldata(e.calldata)
  bareTxHash(e.txHash)
  if (e.blockLogIndex >= c.size) throw new ProofError('ERR_RECEIPT_BUILD', `block ${e.blockLogIndex} is not under the anchored checkpoint of size ${c.size}`)
  if (!equalBytes(blockLogRootOfPath(blockHash, e.blockLogIndex, c.size, e.blockLogPath), c.root)) {
    throw new ProofError('ERR_RECEIPT_BUILD', 'block-log audit path does not lead from the block hash to the anchored root')
  }
  return c
}

/**
 * Add (or replace) the nested `eth_anchor_branch` going on from the record's block hash: block-log leaf,
 * audit path → checkpoint root → `l: calldata prefix`, sha-256 → SHA-256(calldata), anchor
 * `{type: "eth", anchor_id: <tx hash>}`. `base` is a receipt from buildChainpointReceipt (maybe with
 * `entangle-…` branches, which are kept).
 */
export function buildEthChainpoint(base: ChainpointProof, e: EthAnchorInput): ChainpointProof {
  const [first] = evaluateChainpoint({ ...base, branches: base.branches.slice(0, 1).map((b) => ({ label: b.label, ops: b.ops })) })
  const c = checkInput(fromHex(first.expected), e)
  const calldata = e.calldata
  const ops: ChainpointOp[] = [
    { l: '00' },
    { op: 'sha-256' },
    ...blockLogPathOps(e.blockLogIndex, c.size, e.blockLogPath),
    { l: toHex(calldata.subarray(0, calldata.byteLength - 32)) },
    { op: 'sha-256' },
    { anchors: [{ type: 'eth', anchor_id: bareTxHash(e.txHash) }] } as unknown as ChainpointOp,
  ]
  const [main] = base.branches
  const others = (main as { branches?: Array<{ label: string; ops: ChainpointOp[] }> }).branches?.filter((b) => b.label !== ETH_BRANCH_LABEL) ?? []
  return { ...base, branches: [{ ...main, branches: [...others, { label: ETH_BRANCH_LABEL, ops }] }] as unknown as ChainpointProof['branches'] }
}

/** One eth anchor in a native receipt: the tx and receipt fields needed to re-check it on the public chain. */
export interface NativeEthAnchor {
  chainId: number
  txHash: string
  calldata: string
  ethBlockNumber: number
  ethBlockHash: string
  confirmations: number
  from: string
  to: string
  nonce: number
  gasUsed: string
  effectiveGasPrice: string
  blockLogIndex: number
  blockLogSize: number
  blockLogPath: string[]
}

/** A native receipt with `ethAnchors` (one per chain id; the same chain's is replaced). */
export function buildEthNative(base: NativeReceipt, e: EthAnchorInput): NativeReceipt & { ethAnchors: NativeEthAnchor[] } {
  const c = checkInput(fromHex(base.blockHash), e)
  const ent: NativeEthAnchor = {
    chainId: e.chainId,
    txHash: `0x${bareTxHash(e.txHash)}`,
    calldata: toHex(e.calldata),
    ethBlockNumber: e.ethBlockNumber,
    ethBlockHash: e.ethBlockHash,
    confirmations: e.confirmations,
    from: e.from,
    to: e.to,
    nonce: e.nonce,
    gasUsed: e.gasUsed,
    effectiveGasPrice: e.effectiveGasPrice,
    blockLogIndex: e.blockLogIndex,
    blockLogSize: c.size,
    blockLogPath: e.blockLogPath.map(toHex),
  }
  const prev = ((base as { ethAnchors?: NativeEthAnchor[] }).ethAnchors ?? []).filter((x) => x.chainId !== e.chainId)
  return { ...base, ethAnchors: [...prev, ent] }
}

/** An eth anchor as checked offline: the public-chain part is still to be checked (status UNCHECKED). */
export interface EthAnchorVerification {
  txHash: string
  /** The calldata the tx must carry, and SHA-256 of it (the Chainpoint branch's expected value). */
  calldata: string
  calldataHash: string
  checkpoint: { origin: string; size: number; root: string }
  /** Depth claimed by a native receipt (Chainpoint receipts claim none). */
  confirmations?: number
  chainId?: number
}

type Branch = { label?: string; ops: ChainpointOp[]; branches?: Branch[] }

function structure(msg: string): ProofError {
  return new ProofError('ERR_RECEIPT_STRUCTURE', `not a Profichain eth anchor branch: ${msg}`)
}

function operand(op: ChainpointOp | undefined, side: 'l' | 'r'): Uint8Array | undefined {
  if (op === null || typeof op !== 'object' || !(side in op) || Object.keys(op).length !== 1) return undefined
  const v = (op as Record<string, unknown>)[side]
  if (typeof v !== 'string' || v.length === 0 || v.length > 512 || !isHex(v)) throw new ProofError('ERR_RECEIPT_FORMAT', 'operand is not hex (≤ 256 bytes)')
  return fromHex(v)
}
const isHash = (op: ChainpointOp | undefined) => op !== null && typeof op === 'object' && 'op' in op && op.op === 'sha-256' && Object.keys(op).length === 1

/** Verify an `eth_anchor_branch` offline from the record's block hash and height. */
function verifyEthBranch(blockHash: Uint8Array, height: number, branch: Branch): EthAnchorVerification {
  const ops = branch.ops
  if (!Array.isArray(ops) || ops.length > 400) throw structure('ops must be an array')
  const leaf = operand(ops[0], 'l')
  if (!leaf || leaf.byteLength !== 1 || leaf[0] !== 0 || !isHash(ops[1])) throw structure('must start with the block-log leaf (`l: "00"`, sha-256)')
  let i = 2
  let node = leafHash(blockHash)
  const steps: Array<{ left: boolean; sibling: Uint8Array }> = []
  for (;;) {
    const l = operand(ops[i], 'l')
    if (l && l.byteLength === 33 && l[0] === 1 && isHash(ops[i + 1])) {
      steps.push({ left: true, sibling: l.subarray(1) })
      node = nodeHash(l.subarray(1), node)
      i += 2
      continue
    }
    const r = operand(ops[i], 'r')
    const one = r ? operand(ops[i + 1], 'l') : undefined
    if (r && r.byteLength === 32 && one && one.byteLength === 1 && one[0] === 1 && isHash(ops[i + 2])) {
      steps.push({ left: false, sibling: r })
      node = nodeHash(node, r)
      i += 3
      continue
    }
    break
  }
  if (steps.length > 64) throw structure('block-log audit path longer than 64 steps')
  const prefix = operand(ops[i], 'l')
  if (!prefix || !isHash(ops[i + 1])) throw structure('expected the calldata prefix (`l`) and sha-256 after the block-log path')
  const calldata = concatBytes(prefix, node)
  const c = decodeEthCalldata(calldata)
  if (height >= c.size) throw new ProofError('ERR_RECEIPT_MERKLE', `block ${height} is not under the anchored checkpoint of size ${c.size}`)
  const expected = inclusionSteps(height, c.size, steps.map((s) => s.sibling))
  if (expected.some((s, k) => s.siblingOnLeft !== steps[k].left)) throw new ProofError('ERR_RECEIPT_MERKLE', `the block-log path is not the path of leaf ${height} in a tree of ${c.size}`)
  const last = ops[i + 2] as { anchors?: Array<{ type?: unknown; anchor_id?: unknown }> } | undefined
  const anchor = last?.anchors?.[0]
  if (i + 3 !== ops.length || !last || Object.keys(last).length !== 1 || last.anchors?.length !== 1 || anchor?.type !== 'eth' || typeof anchor.anchor_id !== 'string') {
    throw structure('must end with one anchor {type: "eth", anchor_id: <tx hash>}')
  }
  let txHash: string
  try {
    txHash = `0x${bareTxHash(anchor.anchor_id)}`
  } catch {
    throw new ProofError('ERR_RECEIPT_FORMAT', 'eth anchor_id is not a 32-byte tx hash')
  }
  if (branch.branches !== undefined) throw structure('an eth branch has no further branches')
  return { txHash, calldata: toHex(calldata), calldataHash: toHex(sha256(calldata)), checkpoint: { origin: c.origin, size: c.size, root: toHex(c.root) } }
}

/**
 * Verify the `eth_anchor_branch` of a Chainpoint receipt offline (the record's part as
 * verifyChainpointReceipt, other nested branches ignored). Empty when the receipt has no eth branch.
 * The public chain is NOT consulted: each result still needs checkEthAnchor (package anchor) to count.
 */
export function verifyEthChainpoint(
  proof: ChainpointProof,
  opts: { payload?: Uint8Array; payloadHash?: Uint8Array } = {},
): { record: ChainpointVerification; eth: EthAnchorVerification[] } {
  const main = (proof?.branches?.[0] ?? {}) as Branch
  const record = verifyChainpointReceipt({ ...proof, branches: [{ label: main.label ?? '', ops: main.ops }] } as ChainpointProof, opts)
  const nested = Array.isArray(main.branches) ? main.branches : []
  const eth = nested.filter((b) => b?.label === ETH_BRANCH_LABEL).map((b) => verifyEthBranch(fromHex(record.blockHash), record.height, b))
  return { record, eth }
}

/** Check the `ethAnchors` of a native receipt offline against its block hash and height (blockHash/height from verifyNativeReceipt). */
export function verifyEthNative(r: { blockHash: string; ethAnchors?: NativeEthAnchor[] }, height: number): EthAnchorVerification[] {
  const list = r.ethAnchors ?? []
  if (!Array.isArray(list) || list.length > 16) throw new ProofError('ERR_RECEIPT_FORMAT', 'ethAnchors must be an array of at most 16')
  return list.map((e) => {
    let calldata: Uint8Array
    let path: Uint8Array[]
    try {
      calldata = fromHex(e.calldata)
      path = e.blockLogPath.map((x) => fromHex(x))
    } catch {
      throw new ProofError('ERR_RECEIPT_FORMAT', 'eth anchor calldata/path is not hex')
    }
    const c = decodeEthCalldata(calldata)
    if (e.blockLogIndex !== height || c.size !== e.blockLogSize) throw new ProofError('ERR_RECEIPT_MERKLE', `eth anchor leaf ${e.blockLogIndex}/${e.blockLogSize} is not the record's block ${height} under size ${c.size}`)
    let root: Uint8Array
    try {
      root = blockLogRootOfPath(fromHex(r.blockHash), e.blockLogIndex, c.size, path)
    } catch (err) {
      throw new ProofError('ERR_RECEIPT_MERKLE', `block-log path: ${(err as Error).message}`)
    }
    if (!equalBytes(root, c.root)) throw new ProofError('ERR_RECEIPT_MERKLE', 'the block-log path does not lead to the anchored root')
    let txHash: string
    try {
      txHash = `0x${bareTxHash(e.txHash)}`
    } catch {
      throw new ProofError('ERR_RECEIPT_FORMAT', 'eth anchor txHash is not a 32-byte hash')
    }
    return { txHash, calldata: toHex(calldata), calldataHash: toHex(sha256(calldata)), checkpoint: { origin: c.origin, size: c.size, root: toHex(c.root) }, confirmations: e.confirmations, chainId: e.chainId }
  })
}
