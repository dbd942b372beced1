import {
  type ErrorMetaArgs,
  type BlockHeader,
  blockHash,
  blockHashHex,
  equalBytes,
  toHex,
  verifyHeaderSignature,
} from '@profichain/core'
import { ConsensusError, type ConsensusErrorCode, type ConsensusErrorMeta } from './errors.js'
import type { Genesis } from './types.js'

/** How far a header's timestamp may run ahead of our clock (clock skew between factory hosts). */
export const MAX_FUTURE_DRIFT_MS = 15_000

export type { ConsensusErrorCode } from './errors.js'

/** Codes whose metadata is the refused header (plus optional extras). */
type HeaderCode = {
  [C in ConsensusErrorCode]: ConsensusErrorMeta[C] extends { height: number; blockHash?: string } ? C : never
}[ConsensusErrorCode]

/** Throw the ConsensusError `code` for header `h` (its height and hash go into the metadata). */
export function reject<C extends HeaderCode>(
  code: C,
  message: string,
  h: BlockHeader,
  meta?: Omit<ConsensusErrorMeta[C], 'height' | 'blockHash'>,
): never {
  const full = { height: h.height, blockHash: blockHashHex(h), ...meta } as ConsensusErrorMeta[C]
  throw new ConsensusError(code, message, ...([full] as ErrorMetaArgs<ConsensusErrorMeta, C>))
}

/** Checks every consensus shares: link to the parent, network, clock drift. */
export function checkLink(g: Genesis, header: BlockHeader, parent: BlockHeader, now: number): void {
  if (header.network !== g.network)
    reject('ERR_HEADER_NETWORK', `header is for network "${header.network}", expected "${g.network}"`, header)
  if (header.height !== parent.height + 1) {
    reject(
      'ERR_HEADER_HEIGHT',
      `height ${header.height} does not follow parent height ${parent.height}`,
      header,
    )
  }
  if (!equalBytes(header.prevHash, blockHash(parent))) {
    reject(
      'ERR_HEADER_PREV_HASH',
      `prevHash ${toHex(header.prevHash)} is not the parent's hash ${blockHashHex(parent)}`,
      header,
    )
  }
  if (header.timestamp > now + MAX_FUTURE_DRIFT_MS) {
    reject(
      'ERR_HEADER_TIMESTAMP_FUTURE',
      `timestamp ${header.timestamp} is ${header.timestamp - now} ms ahead of local time (max ${MAX_FUTURE_DRIFT_MS})`,
      header,
    )
  }
}

/** Exactly one signature, the producer's, and it verifies (authority, work). */
export function checkSoleProducerSignature(header: BlockHeader): void {
  checkProducerSignature(header)
  if (header.signatures.length !== 1) {
    reject(
      'ERR_SIGNATURE_EXTRA',
      `expected only the producer's signature, found ${header.signatures.length} signatures`,
      header,
    )
  }
}

export function checkProducerSignature(header: BlockHeader): void {
  const s = header.signatures.find((x) => equalBytes(x.signer, header.producer))
  if (s === undefined)
    reject('ERR_PRODUCER_SIGNATURE', `the producer ${toHex(header.producer)} did not sign the header`, header)
  if (!verifyHeaderSignature(header, s))
    reject('ERR_PRODUCER_SIGNATURE', `the producer's signature is invalid`, header)
}
