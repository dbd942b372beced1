import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto'
import { concatBytes, toHex, utf8 } from '@profichain/core'

// Tier 2 per the lead's draft; replaced by core's tier2 module once h14-api lands it.
export const TIER2_SCHEME = 'aes-256-gcm-hkdf-sha256/1'
const LABEL = 'profichain-tier2/1'

export interface Tier2Input { dataKey: Uint8Array; epoch: number; origin: Uint8Array; seq: number; plaintext: Uint8Array; nonce?: Uint8Array }

function ctx(origin: Uint8Array, epoch: number, seq: number): Uint8Array {
  const b = Buffer.alloc(12)
  b.writeUInt32BE(epoch, 0)
  b.writeBigUInt64BE(BigInt(seq), 4)
  return concatBytes(origin, b)
}

export function sealTier2(i: Tier2Input): { payload: Uint8Array; metadata: Record<string, string>; recordKey: Uint8Array } {
  const k = new Uint8Array(hkdfSync('sha256', i.dataKey, utf8(LABEL), ctx(i.origin, i.epoch, i.seq), 32))
  const enc = createHmac('sha256', k).update(utf8(`${LABEL} enc`)).digest()
  const commit = createHmac('sha256', k).update(utf8(`${LABEL} commit`)).digest()
  const nonce = i.nonce ?? randomBytes(12)
  const c = createCipheriv('aes-256-gcm', enc, nonce)
  c.setAAD(concatBytes(utf8(LABEL), ctx(i.origin, i.epoch, i.seq)))
  const ct = Buffer.concat([c.update(i.plaintext), c.final(), c.getAuthTag()])
  return { payload: concatBytes(nonce, ct), metadata: { tier2: TIER2_SCHEME, 'tier2.epoch': String(i.epoch), 'tier2.commit': toHex(commit) }, recordKey: k }
}

export function openTier2(k: Uint8Array, origin: Uint8Array, epoch: number, seq: number, payload: Uint8Array): Uint8Array {
  const enc = createHmac('sha256', k).update(utf8(`${LABEL} enc`)).digest()
  const d = createDecipheriv('aes-256-gcm', enc, payload.subarray(0, 12))
  d.setAAD(concatBytes(utf8(LABEL), ctx(origin, epoch, seq)))
  d.setAuthTag(payload.subarray(payload.byteLength - 16))
  return new Uint8Array(Buffer.concat([d.update(payload.subarray(12, payload.byteLength - 16)), d.final()]))
}
