import { type Block, type BlockHeader, decodeBlock, decodeHeader, encodeBlock } from './block.js'
import { isHex } from './bytes.js'
import { type CborValue, decodeCbor, encodeCbor, read } from './codec.js'
import { CodecError } from './errors.js'
import { decodeTransaction, encodeTransaction, type Transaction } from './transaction.js'

/**
 * Versioned network messages (DESIGN §7). Every message is one deterministic CBOR array whose first item
 * is the wire version. Nested structures (txs, headers, blocks) travel as byte strings holding their own
 * canonical encodings, so a receiver can hash/store them without re-encoding.
 * Every decoder throws CodecError only.
 */
export const WIRE_VERSION = 1

export const WIRE_LIMITS = {
  txBatchItems: 4096,
  txBatchBytes: 16 * 1024 * 1024,
  headersPerRequest: 512,
  blocksPerRequest: 64,
  payloadsPerRequest: 256,
  members: 4096,
  addrsPerMember: 16,
  addrBytes: 256,
  errorCodeBytes: 64,
  errorMessageBytes: 1024,
} as const

function readVersion(v: CborValue, what: string): void {
  const version = read.uint(v, `${what}.version`)
  if (version !== WIRE_VERSION) throw new CodecError(`${what}: unsupported wire version ${version}`)
}

// ---------------------------------------------------------------------------------------------- gossip

/** Tx gossip message: [1, [encodedTransaction...]]. Items are `encodeTransaction` bytes. */
export function encodeTxBatch(items: Array<Uint8Array | Transaction>): Uint8Array {
  if (items.length > WIRE_LIMITS.txBatchItems)
    throw new CodecError(`tx batch: ${items.length} items exceeds ${WIRE_LIMITS.txBatchItems}`)
  const bytes = items.map((t) => (t instanceof Uint8Array ? t : encodeTransaction(t)))
  return encodeCbor([WIRE_VERSION, bytes])
}

/** Decode a tx batch into its raw items (each still `encodeTransaction` bytes, not yet decoded). */
export function decodeTxBatchItems(bytes: Uint8Array): Uint8Array[] {
  if (bytes.byteLength > WIRE_LIMITS.txBatchBytes)
    throw new CodecError(`tx batch: ${bytes.byteLength} bytes exceeds ${WIRE_LIMITS.txBatchBytes}`)
  const a = read.array(decodeCbor(bytes, 'tx batch'), 2, 'tx batch')
  readVersion(a[0], 'tx batch')
  return read
    .list(a[1], WIRE_LIMITS.txBatchItems, 'tx batch.txs')
    .map((x, i) => read.bytes(x, `tx batch.txs[${i}]`))
}

/** Decode a tx batch into transactions (signatures are not checked here). */
export function decodeTxBatch(bytes: Uint8Array): Transaction[] {
  return decodeTxBatchItems(bytes).map((b) => decodeTransaction(b))
}

/** Block gossip message: [1, encodedBlock] (stripped block: payloads are fetched by sync). */
export function encodeBlockAnnouncement(block: Block | Uint8Array): Uint8Array {
  return encodeCbor([WIRE_VERSION, block instanceof Uint8Array ? block : encodeBlock(block)])
}

/** Returns the raw encoded block carried by an announcement. */
export function decodeBlockAnnouncementBytes(bytes: Uint8Array): Uint8Array {
  const a = read.array(decodeCbor(bytes, 'block announcement'), 2, 'block announcement')
  readVersion(a[0], 'block announcement')
  return read.bytes(a[1], 'block announcement.block')
}

export function decodeBlockAnnouncement(bytes: Uint8Array): Block {
  return decodeBlock(decodeBlockAnnouncementBytes(bytes))
}

// ------------------------------------------------------------------------------------------------ sync

export const SYNC_KINDS = ['headers', 'block', 'blocks', 'payloads', 'status', 'members'] as const
export type SyncKind = (typeof SYNC_KINDS)[number]

export type SyncRequest =
  | { kind: 'headers'; from: number; count: number }
  | { kind: 'block'; hash: Uint8Array }
  | { kind: 'blocks'; from: number; count: number }
  | { kind: 'payloads'; txIds: Uint8Array[] }
  | { kind: 'status' }
  | { kind: 'members' }

export type SyncRequestOf<K extends SyncKind> = Extract<SyncRequest, { kind: K }>

export interface SyncStatus {
  height: number
  headHash: Uint8Array
  genesisHash: Uint8Array
}

export interface MemberAddrs {
  /** Ed25519 public key, lowercase hex (64 chars). */
  publicKey: string
  addrs: string[]
}

export interface PayloadEntry {
  txId: Uint8Array
  payload: Uint8Array | null
}

/** Decoded response bodies per request kind. */
export interface SyncResponses {
  headers: BlockHeader[]
  block: Block | null
  blocks: Block[]
  payloads: PayloadEntry[]
  status: SyncStatus
  members: MemberAddrs[]
}

/** Response bodies as the server builds them: nested structures are already encoded. */
export interface SyncResponsesEncoded {
  headers: Uint8Array[]
  block: Uint8Array | null
  blocks: Uint8Array[]
  payloads: PayloadEntry[]
  status: SyncStatus
  members: MemberAddrs[]
}

export type SyncResult<K extends SyncKind> =
  | { ok: true; value: SyncResponses[K] }
  | { ok: false; code: string; message: string }

function argsMap(v: CborValue, keys: readonly string[], what: string): Record<string, CborValue> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array)
    throw new CodecError(`${what}: expected a map`)
  const got = Object.keys(v)
  if (got.length !== keys.length || !keys.every((k) => Object.hasOwn(v, k))) {
    throw new CodecError(`${what}: expected keys {${keys.join(', ')}}, got {${got.slice(0, 8).join(', ')}}`)
  }
  return v
}

function checkCount(count: number, max: number, what: string): number {
  if (count < 1 || count > max) throw new CodecError(`${what}.count: must be 1..${max}, got ${count}`)
  return count
}

/** Sync request: [1, kind, args]. */
export function encodeSyncRequest(req: SyncRequest): Uint8Array {
  let args: CborValue
  switch (req.kind) {
    case 'headers':
    case 'blocks':
      args = { from: req.from, count: req.count }
      break
    case 'block':
      args = { hash: req.hash }
      break
    case 'payloads':
      args = { txIds: req.txIds }
      break
    case 'status':
    case 'members':
      args = {}
      break
    default:
      throw new CodecError(`sync request: unknown kind ${(req as { kind: string }).kind}`)
  }
  return encodeCbor([WIRE_VERSION, req.kind, args])
}

export function decodeSyncRequest(bytes: Uint8Array): SyncRequest {
  const a = read.array(decodeCbor(bytes, 'sync request'), 3, 'sync request')
  readVersion(a[0], 'sync request')
  const kind = read.text(a[1], 'sync request.kind', 16)
  const what = `sync request ${kind}`
  switch (kind) {
    case 'headers':
    case 'blocks': {
      const m = argsMap(a[2], ['from', 'count'], what)
      const max = kind === 'headers' ? WIRE_LIMITS.headersPerRequest : WIRE_LIMITS.blocksPerRequest
      return {
        kind,
        from: read.uint(m.from, `${what}.from`),
        count: checkCount(read.uint(m.count, `${what}.count`), max, what),
      }
    }
    case 'block': {
      const m = argsMap(a[2], ['hash'], what)
      return { kind, hash: read.bytes(m.hash, `${what}.hash`, 32) }
    }
    case 'payloads': {
      const m = argsMap(a[2], ['txIds'], what)
      const ids = read
        .list(m.txIds, WIRE_LIMITS.payloadsPerRequest, `${what}.txIds`)
        .map((x, i) => read.bytes(x, `${what}.txIds[${i}]`, 32))
      return { kind, txIds: ids }
    }
    case 'status':
    case 'members':
      argsMap(a[2], [], what)
      return { kind }
    default:
      throw new CodecError(`sync request: unknown kind "${kind}"`)
  }
}

function memberToCbor(m: MemberAddrs): CborValue {
  return [m.publicKey, m.addrs]
}

/** Success response: [1, body]. `body` holds already-encoded headers/blocks (see SyncResponsesEncoded). */
export function encodeSyncResponse<K extends SyncKind>(kind: K, body: SyncResponsesEncoded[K]): Uint8Array {
  let v: CborValue
  switch (kind) {
    case 'headers':
    case 'blocks':
      v = body as Uint8Array[]
      break
    case 'block':
      v = body as Uint8Array | null
      break
    case 'payloads':
      v = (body as PayloadEntry[]).map((e) => [e.txId, e.payload])
      break
    case 'status': {
      const s = body as SyncStatus
      v = { height: s.height, headHash: s.headHash, genesisHash: s.genesisHash }
      break
    }
    case 'members':
      v = (body as MemberAddrs[]).map(memberToCbor)
      break
    default:
      throw new CodecError(`sync response: unknown kind ${kind}`)
  }
  return encodeCbor([WIRE_VERSION, v])
}

/** Error response: [1, 'error', code, message]. */
export function encodeSyncError(code: string, message: string): Uint8Array {
  const msg =
    Buffer.byteLength(message) > WIRE_LIMITS.errorMessageBytes ? `${message.slice(0, 255)}…` : message
  return encodeCbor([WIRE_VERSION, 'error', code.slice(0, WIRE_LIMITS.errorCodeBytes), msg])
}

function readMember(v: CborValue, what: string): MemberAddrs {
  const p = read.array(v, 2, what)
  const publicKey = read.text(p[0], `${what}.publicKey`, 64)
  if (!isHex(publicKey, 32) || publicKey !== publicKey.toLowerCase())
    throw new CodecError(`${what}.publicKey: expected 64 lowercase hex chars`)
  const addrs = read
    .list(p[1], WIRE_LIMITS.addrsPerMember, `${what}.addrs`)
    .map((x, i) => read.text(x, `${what}.addrs[${i}]`, WIRE_LIMITS.addrBytes))
  return { publicKey, addrs }
}

/** Decode a response to a request of `kind`; an error response comes back as `{ ok: false }`. */
export function decodeSyncResponse<K extends SyncKind>(kind: K, bytes: Uint8Array): SyncResult<K> {
  const v = decodeCbor(bytes, 'sync response')
  if (!Array.isArray(v) || (v.length !== 2 && v.length !== 4))
    throw new CodecError('sync response: expected an array of 2 or 4 items')
  readVersion(v[0], 'sync response')
  if (v.length === 4) {
    if (v[1] !== 'error') throw new CodecError('sync response: a 4-item response must be an error')
    return {
      ok: false,
      code: read.text(v[2], 'sync error.code', WIRE_LIMITS.errorCodeBytes),
      message: read.text(v[3], 'sync error.message', WIRE_LIMITS.errorMessageBytes),
    }
  }
  const body = v[1]
  const what = `sync response ${kind}`
  let value: SyncResponses[SyncKind]
  switch (kind) {
    case 'headers':
      value = read
        .list(body, WIRE_LIMITS.headersPerRequest, what)
        .map((x, i) => decodeHeader(read.bytes(x, `${what}[${i}]`)))
      break
    case 'blocks':
      value = read
        .list(body, WIRE_LIMITS.blocksPerRequest, what)
        .map((x, i) => decodeBlock(read.bytes(x, `${what}[${i}]`)))
      break
    case 'block':
      value = body === null ? null : decodeBlock(read.bytes(body, what))
      break
    case 'payloads':
      value = read.list(body, WIRE_LIMITS.payloadsPerRequest, what).map((x, i) => {
        const p = read.array(x, 2, `${what}[${i}]`)
        return {
          txId: read.bytes(p[0], `${what}[${i}].txId`, 32),
          payload: p[1] === null ? null : read.bytes(p[1], `${what}[${i}].payload`),
        }
      })
      break
    case 'status': {
      const m = argsMap(body, ['height', 'headHash', 'genesisHash'], what)
      value = {
        height: read.uint(m.height, `${what}.height`),
        headHash: read.bytes(m.headHash, `${what}.headHash`, 32),
        genesisHash: read.bytes(m.genesisHash, `${what}.genesisHash`, 32),
      }
      break
    }
    case 'members':
      value = read.list(body, WIRE_LIMITS.members, what).map((x, i) => readMember(x, `${what}[${i}]`))
      break
    default:
      throw new CodecError(`sync response: unknown kind "${kind}"`)
  }
  return { ok: true, value: value as SyncResponses[K] }
}

/** Checks a kind string received from elsewhere. */
export function isSyncKind(s: string): s is SyncKind {
  return (SYNC_KINDS as readonly string[]).includes(s)
}
