import {
  type BlockHeader,
  blockHash,
  blockHashHex,
  equalBytes,
  toHex,
  verifyHeaderSignature,
} from '@profichain/core'
import { ConsensusError, type Genesis } from './types.js'

/** How far a header's timestamp may run ahead of our clock (clock skew between factory hosts). */
export const MAX_FUTURE_DRIFT_MS = 15_000

/** Stable codes of ConsensusError, so callers (e.g. peer scoring) can branch on the reason. */
export type ConsensusErrorCode =
  | 'ERR_HEADER_HEIGHT'
  | 'ERR_HEADER_PREV_HASH'
  | 'ERR_HEADER_NETWORK'
  | 'ERR_HEADER_NONCE'
  | 'ERR_HEADER_DIFFICULTY'
  | 'ERR_HEADER_TIMESTAMP_EARLY'
  | 'ERR_HEADER_TIMESTAMP_FUTURE'
  | 'ERR_PRODUCER_NOT_VALIDATOR'
  | 'ERR_PRODUCER_NOT_MEMBER'
  | 'ERR_PRODUCER_SIGNATURE'
  | 'ERR_PRODUCER_RECENT'
  | 'ERR_SIGNATURE_INVALID'
  | 'ERR_SIGNATURE_DUPLICATE'
  | 'ERR_SIGNATURE_NOT_VALIDATOR'
  | 'ERR_SIGNATURE_EXTRA'
  | 'ERR_INSUFFICIENT_WORK'
  | 'ERR_SEAL_ABORTED'
  | 'ERR_NOT_VALIDATOR'
  | 'ERR_CONSENSUS_TYPE'
  | 'ERR_ORIGIN_NOT_MEMBER'

export function reject(
  code: ConsensusErrorCode,
  message: string,
  h: BlockHeader,
  meta: Record<string, unknown> = {},
): never {
  throw new ConsensusError(code, message, { height: h.height, blockHash: blockHashHex(h), ...meta })
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
