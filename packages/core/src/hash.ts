import { getCrypto } from './crypto.js'

/** SHA-256 through the active crypto backend (node:crypto by default). */
export function sha256(data: Uint8Array): Uint8Array {
  return getCrypto().sha256(data)
}
