/** Byte helpers shared by every package: nobody else converts hex or concatenates by hand. */
import { codedError } from './errors.js'

const HEX_RE = /^(?:[0-9a-f]{2})*$/

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Strict lowercase/uppercase hex to bytes; throws TypeError (code ERR_INVALID_ARGUMENT) on odd length or non-hex characters. */
export function fromHex(hex: string): Uint8Array {
  const h = hex.toLowerCase()
  if (!HEX_RE.test(h)) throw codedError(new TypeError(`not a hex string: ${hex.length > 40 ? `${hex.slice(0, 40)}…` : hex}`), 'ERR_INVALID_ARGUMENT')
  return new Uint8Array(Buffer.from(h, 'hex'))
}

export function isHex(s: string, bytes?: number): boolean {
  return HEX_RE.test(s.toLowerCase()) && (bytes === undefined || s.length === bytes * 2)
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

/**
 * Byte equality. Short arrays (keys, ids, hashes: compared per record on hot paths) in a plain loop, without the
 * Buffer view a memcmp needs; longer ones through Buffer's memcmp.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.byteLength
  if (n !== b.byteLength) return false
  if (n <= 64) {
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false
    return true
  }
  return Buffer.from(a.buffer, a.byteOffset, n).equals(b)
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b)
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

export function fromBase64(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'))
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** RFC 4648 base32, lowercase, no padding. */
export function toBase32(bytes: Uint8Array): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31]
  return out
}
