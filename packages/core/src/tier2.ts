import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto'
import { gcm } from '@noble/ciphers/aes.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import { concatBytes, equalBytes, fromHex, isHex, toHex, utf8 } from './bytes.js'
import { getCrypto } from './crypto.js'
import { codedError, ProfichainError } from './errors.js'

/**
 * Tier 2 (docs/ingest-protocol.md, "Tier 2"): a device encrypts a record's payload before signing it, with a key
 * derived per record from its data key, the key epoch and the record's seq; the chain hashes the ciphertext.
 *   K          = HKDF-SHA256(ikm = dataKey, salt = "profichain-tier2/1", info = origin ‖ u32be(epoch) ‖ u64be(seq), 32)
 *   encKey     = HMAC-SHA256(K, "profichain-tier2/1 enc")
 *   commitment = HMAC-SHA256(K, "profichain-tier2/1 commit")     (in the signed metadata: key commitment)
 *   payload    = nonce(12) ‖ AES-256-GCM(encKey, nonce, plaintext, aad = "profichain-tier2/1" ‖ origin ‖ u32be(epoch) ‖ u64be(seq)) ‖ tag(16)
 * Releasing K opens that one record only (HKDF is one-way; other seqs/epochs give unrelated keys), and a K
 * that is not the committed one is refused before any decryption is tried.
 */
export const TIER2_SCHEME = 'aes-256-gcm-hkdf-sha256/1'
export const TIER2_LABEL = 'profichain-tier2/1'
/** Metadata keys of a tier-2 record (signed with the tx body). */
export const TIER2_META = { scheme: 'tier2', epoch: 'tier2.epoch', commit: 'tier2.commit' } as const
export const TIER2_NONCE_BYTES = 12
export const TIER2_TAG_BYTES = 16

export const TIER2_ERROR_CODES = [
  // the tx metadata does not describe a tier-2 record of a known scheme
  'ERR_TIER2_HEADER',
  // the key given is not the one the record committed to
  'ERR_TIER2_COMMITMENT',
  // AES-GCM authentication failed: the ciphertext (or its origin/epoch/seq) was changed
  'ERR_TIER2_DECRYPT',
] as const
export type Tier2ErrorCode = (typeof TIER2_ERROR_CODES)[number]

export class Tier2Error extends ProfichainError {
  declare readonly code: Tier2ErrorCode
  constructor(code: Tier2ErrorCode, message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, meta, options)
    this.name = 'Tier2Error'
  }
}

/** The primitives tier 2 needs; node:crypto in Node, @noble (pure JS) in browsers. Both give identical bytes. */
export interface Tier2Backend {
  readonly name: 'node' | 'noble'
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array
  /** ciphertext ‖ tag */
  aesGcmEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array
  /** plaintext, or null if authentication fails */
  aesGcmDecrypt(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null
}

const u8 = (b: Buffer | ArrayBuffer): Uint8Array => (b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength))

export function createNodeTier2Backend(): Tier2Backend {
  return {
    name: 'node',
    hkdfSha256: (ikm, salt, info, length) => u8(hkdfSync('sha256', ikm, salt, info, length)),
    hmacSha256: (key, data) => u8(createHmac('sha256', key).update(data).digest()),
    aesGcmEncrypt: (key, nonce, plaintext, aad) => {
      const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TIER2_TAG_BYTES })
      c.setAAD(aad)
      return concatBytes(c.update(plaintext), c.final(), c.getAuthTag())
    },
    aesGcmDecrypt: (key, nonce, sealed, aad) => {
      if (sealed.byteLength < TIER2_TAG_BYTES) return null
      const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TIER2_TAG_BYTES })
      d.setAAD(aad)
      d.setAuthTag(sealed.subarray(sealed.byteLength - TIER2_TAG_BYTES))
      try {
        return concatBytes(d.update(sealed.subarray(0, sealed.byteLength - TIER2_TAG_BYTES)), d.final())
      } catch {
        return null
      }
    },
  }
}

export function createNobleTier2Backend(): Tier2Backend {
  return {
    name: 'noble',
    hkdfSha256: (ikm, salt, info, length) => hkdf(nobleSha256, ikm, salt, info, length),
    hmacSha256: (key, data) => hmac(nobleSha256, key, data),
    aesGcmEncrypt: (key, nonce, plaintext, aad) => gcm(key, nonce, aad).encrypt(plaintext),
    aesGcmDecrypt: (key, nonce, sealed, aad) => {
      try {
        return gcm(key, nonce, aad).decrypt(sealed)
      } catch {
        return null
      }
    },
  }
}

const nodeTier2 = createNodeTier2Backend()
const nobleTier2 = createNobleTier2Backend()

/** The tier-2 backend matching core's active crypto backend (setCrypto(createNobleBackend()) → pure JS). */
export function getTier2Backend(): Tier2Backend {
  return getCrypto().name === 'noble' ? nobleTier2 : nodeTier2
}

function arg(ok: boolean, message: string): void {
  if (!ok) throw codedError(new TypeError(message), 'ERR_INVALID_ARGUMENT')
}

function checkCoords(origin: Uint8Array, epoch: number, seq: number): void {
  arg(origin instanceof Uint8Array && origin.byteLength === 32, 'tier2: origin must be a 32-byte public key')
  arg(Number.isInteger(epoch) && epoch >= 0 && epoch <= 0xffffffff, 'tier2: epoch must be an integer in [0, 2^32-1]')
  arg(Number.isSafeInteger(seq) && seq >= 0, 'tier2: seq must be a non-negative safe integer')
}

/** origin(32) ‖ u32be(epoch) ‖ u64be(seq) */
function coords(origin: Uint8Array, epoch: number, seq: number): Uint8Array {
  checkCoords(origin, epoch, seq)
  const out = new Uint8Array(32 + 4 + 8)
  out.set(origin, 0)
  const dv = new DataView(out.buffer)
  dv.setUint32(32, epoch)
  dv.setUint32(36, Math.floor(seq / 2 ** 32))
  dv.setUint32(40, seq >>> 0)
  return out
}

/** The per-record key K (32 bytes). */
export function deriveRecordKey(dataKey: Uint8Array, origin: Uint8Array, epoch: number, seq: number): Uint8Array {
  arg(dataKey instanceof Uint8Array && dataKey.byteLength === 32, 'tier2: the data key must be 32 bytes')
  return getTier2Backend().hkdfSha256(dataKey, utf8(TIER2_LABEL), coords(origin, epoch, seq), 32)
}

export function tier2EncKey(recordKey: Uint8Array): Uint8Array {
  arg(recordKey instanceof Uint8Array && recordKey.byteLength === 32, 'tier2: a record key is 32 bytes')
  return getTier2Backend().hmacSha256(recordKey, utf8(`${TIER2_LABEL} enc`))
}

export function tier2Commitment(recordKey: Uint8Array): Uint8Array {
  arg(recordKey instanceof Uint8Array && recordKey.byteLength === 32, 'tier2: a record key is 32 bytes')
  return getTier2Backend().hmacSha256(recordKey, utf8(`${TIER2_LABEL} commit`))
}

export function tier2Aad(origin: Uint8Array, epoch: number, seq: number): Uint8Array {
  return concatBytes(utf8(TIER2_LABEL), coords(origin, epoch, seq))
}

export interface Tier2SealInit {
  dataKey: Uint8Array
  /** The device's public key (the tx origin). */
  origin: Uint8Array
  epoch: number
  /** The tx seq this payload will be signed with. */
  seq: number
  plaintext: Uint8Array
  /** 12 bytes; random when left out (only tests and vectors pass one). Never reuse one with the same key. */
  nonce?: Uint8Array
}

export interface Tier2Sealed {
  /** nonce ‖ ciphertext ‖ tag: the tx payload. */
  payload: Uint8Array
  /** The tier-2 metadata entries to merge into the tx metadata. */
  metadata: Record<string, string>
  /** K: release it (hex) to let someone open this record, and only this one. */
  recordKey: Uint8Array
  commitment: Uint8Array
}

function randomNonce(): Uint8Array {
  const n = new Uint8Array(TIER2_NONCE_BYTES)
  globalThis.crypto.getRandomValues(n)
  return n
}

/** Encrypt a payload for a tx with (origin, seq) under (dataKey, epoch). */
export function sealTier2(init: Tier2SealInit): Tier2Sealed {
  const recordKey = deriveRecordKey(init.dataKey, init.origin, init.epoch, init.seq)
  const nonce = init.nonce ?? randomNonce()
  arg(nonce instanceof Uint8Array && nonce.byteLength === TIER2_NONCE_BYTES, 'tier2: the nonce must be 12 bytes')
  const commitment = tier2Commitment(recordKey)
  const sealed = getTier2Backend().aesGcmEncrypt(tier2EncKey(recordKey), nonce, init.plaintext, tier2Aad(init.origin, init.epoch, init.seq))
  return {
    payload: concatBytes(nonce, sealed),
    metadata: { [TIER2_META.scheme]: TIER2_SCHEME, [TIER2_META.epoch]: String(init.epoch), [TIER2_META.commit]: toHex(commitment) },
    recordKey,
    commitment,
  }
}

export interface Tier2Header {
  epoch: number
  commitment: Uint8Array
}

/** Whether a tx's metadata marks a tier-2 record (any scheme). */
export function isTier2(metadata: Record<string, string>): boolean {
  return Object.hasOwn(metadata, TIER2_META.scheme)
}

/** Parse the tier-2 entries of a tx's metadata; ERR_TIER2_HEADER if absent, of another scheme or malformed. */
export function tier2Header(metadata: Record<string, string>): Tier2Header {
  const scheme = Object.hasOwn(metadata, TIER2_META.scheme) ? metadata[TIER2_META.scheme] : undefined
  if (scheme !== TIER2_SCHEME) {
    throw new Tier2Error(
      'ERR_TIER2_HEADER',
      scheme === undefined ? 'the record is not tier-2 encrypted (no "tier2" metadata)' : `unknown tier-2 scheme "${scheme}" (this version reads ${TIER2_SCHEME})`,
    )
  }
  const e = Object.hasOwn(metadata, TIER2_META.epoch) ? metadata[TIER2_META.epoch] : ''
  if (!/^(0|[1-9][0-9]{0,9})$/.test(e) || Number(e) > 0xffffffff) throw new Tier2Error('ERR_TIER2_HEADER', `"${TIER2_META.epoch}" must be a decimal u32, got "${e}"`)
  const c = Object.hasOwn(metadata, TIER2_META.commit) ? metadata[TIER2_META.commit] : ''
  if (!isHex(c, 32) || c !== c.toLowerCase()) throw new Tier2Error('ERR_TIER2_HEADER', `"${TIER2_META.commit}" must be 64 lowercase hex characters`)
  return { epoch: Number(e), commitment: fromHex(c) }
}

export interface Tier2OpenInit {
  recordKey: Uint8Array
  origin: Uint8Array
  epoch: number
  seq: number
  /** The committed value from the signed header. */
  commitment: Uint8Array
  payload: Uint8Array
}

/** Check the key against the commitment, then decrypt (ERR_TIER2_COMMITMENT / ERR_TIER2_DECRYPT). */
export function openTier2(init: Tier2OpenInit): Uint8Array {
  if (!equalBytes(tier2Commitment(init.recordKey), init.commitment)) {
    throw new Tier2Error('ERR_TIER2_COMMITMENT', 'the key does not match the record\'s key commitment: it is the key of another record (or mistyped)')
  }
  if (init.payload.byteLength < TIER2_NONCE_BYTES + TIER2_TAG_BYTES) {
    throw new Tier2Error('ERR_TIER2_DECRYPT', `a tier-2 payload has at least ${TIER2_NONCE_BYTES + TIER2_TAG_BYTES} bytes, this one ${init.payload.byteLength}`)
  }
  const plain = getTier2Backend().aesGcmDecrypt(
    tier2EncKey(init.recordKey),
    init.payload.subarray(0, TIER2_NONCE_BYTES),
    init.payload.subarray(TIER2_NONCE_BYTES),
    tier2Aad(init.origin, init.epoch, init.seq),
  )
  if (plain === null) {
    throw new Tier2Error('ERR_TIER2_DECRYPT', 'AES-GCM authentication failed: the ciphertext was changed (or does not belong to this origin/epoch/seq)')
  }
  return plain
}

/** Open the payload of a tier-2 tx with its released record key (header from the tx's signed metadata). */
export function openTier2Tx(recordKey: Uint8Array, tx: { body: { origin: Uint8Array; seq: number; metadata: Record<string, string> }; payload: Uint8Array }): Uint8Array {
  const h = tier2Header(tx.body.metadata)
  return openTier2({ recordKey, origin: tx.body.origin, epoch: h.epoch, seq: tx.body.seq, commitment: h.commitment, payload: tx.payload })
}
