/** Format limits enforced by every decoder (network-level limits such as max tx bytes come from genesis). */
export const LIMITS = {
  networkIdBytes: 64,
  kindBytes: 16,
  metadataEntries: 64,
  metadataKeyBytes: 64,
  metadataValueBytes: 1024,
  /** Upper bound of any single payload the format allows; genesis usually sets a lower one. */
  payloadBytes: 64 * 1024 * 1024,
  txsPerBlock: 1_000_000,
  signaturesPerHeader: 256,
} as const

export const FORMAT_VERSION = 1
export const TX_KINDS = ['record', 'anchor', 'device', 'device-revoke'] as const
export type TxKind = (typeof TX_KINDS)[number]
