import { createTransaction, type KeyPair, sealTier2, type Transaction } from '@profichain/core'

export interface RecordInit {
  deviceKey: KeyPair
  network: string
  seq: number
  payload: Uint8Array
  metadata?: Record<string, string>
  /** Tier 2: the device's 32-byte data key (the payload is encrypted before signing). */
  dataKey?: Uint8Array
  epoch?: number
  timestamp?: number
}

/** Build and sign one device record (tier 2: encrypt first, with the record's seq). */
export function createRecord(init: RecordInit): { tx: Transaction; recordKey?: Uint8Array } {
  let payload = init.payload
  let metadata = init.metadata ?? {}
  let recordKey: Uint8Array | undefined
  if (init.dataKey) {
    const sealed = sealTier2({ dataKey: init.dataKey, epoch: init.epoch ?? 0, origin: init.deviceKey.publicKey, seq: init.seq, plaintext: payload })
    payload = sealed.payload
    metadata = { ...metadata, ...sealed.metadata }
    recordKey = sealed.recordKey
  }
  const tx = createTransaction(init.deviceKey, { network: init.network, seq: init.seq, payload, metadata, timestamp: init.timestamp })
  return recordKey ? { tx, recordKey } : { tx }
}
