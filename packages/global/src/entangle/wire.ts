import { CodecError, decodeCbor, encodeCbor, read } from '@profichain/core'
import { EntangleError } from './errors.js'

/**
 * Message types carried over the broker link between partner networks (h13-broker's `request`/`send`),
 * bodies as documented in docs/global-network.md:
 * - `add-checkpoint` (request): body = the exact c2sp.org/tlog-witness HTTP request body (UTF-8);
 *   reply = CBOR [1, status (uint), content type (text), body (bytes)] — the HTTP answer, byte for byte.
 * - `entanglement` (one-way send): body = an encoded entanglement proof (proof.ts).
 */
export const BROKER_TYPES = { addCheckpoint: 'add-checkpoint', entanglement: 'entanglement' } as const

export interface WitnessReply {
  status: number
  contentType: string
  body: Uint8Array
}

const MAX_REPLY_BYTES = 64 * 1024

export function encodeWitnessReply(r: WitnessReply): Uint8Array {
  return encodeCbor([1, r.status, r.contentType, r.body])
}

export function decodeWitnessReply(bytes: Uint8Array): WitnessReply {
  try {
    if (!(bytes instanceof Uint8Array) || bytes.byteLength > MAX_REPLY_BYTES) throw new CodecError(`more than ${MAX_REPLY_BYTES} bytes`)
    const v = decodeCbor(bytes, 'witness reply')
    const a = read.array(v, 4, 'witness reply')
    if (a[0] !== 1) throw new CodecError('witness reply: not version 1')
    const status = read.uint(a[1], 'status')
    if (status < 100 || status > 599) throw new CodecError('witness reply: status out of range')
    return { status, contentType: read.text(a[2], 'contentType', 256), body: read.bytes(a[3], 'body') }
  } catch (err) {
    throw new EntangleError('ERR_ENTANGLE_MALFORMED', `witness reply does not decode: ${(err as Error).message}`, {}, { cause: err })
  }
}
