import { type ErrorMetaArgs, ProfichainError } from '@profichain/core'

/** Every code a BrokerError can carry (a caller's `switch` over `err.code` is checked). */
export const BROKER_ERROR_CODES = [
  /** Bytes that are not a well-formed envelope of a known version (decoder). */
  'ERR_BROKER_ENVELOPE',
  /** A caller passed something unusable (bad URL, key of the wrong size, network name with MQTT wildcards). */
  'ERR_BROKER_ARGUMENT',
  /** The asked-for network is not among `partners()`: add it to the config first. */
  'ERR_BROKER_UNKNOWN_PARTNER',
  /** No reply (or ack) arrived within `requestTimeoutMs`: the partner's nodes are offline or the broker unreachable. */
  'ERR_BROKER_TIMEOUT',
  /** Too many requests in flight, or the message is larger than `maxMessageBytes`. */
  'ERR_BROKER_LIMIT',
  /** The partner received the request but refused it (no handler for the type, its handler failed). */
  'ERR_BROKER_REMOTE',
  /** The link is stopped (or was never started). */
  'ERR_BROKER_STOPPED',
  /** The embedded broker cannot listen (port in use, bad TLS key or certificate). */
  'ERR_BROKER_LISTEN',
] as const
export type BrokerErrorCode = (typeof BROKER_ERROR_CODES)[number]

type NoMeta = Record<string, never>

/** The metadata each code carries. */
export interface BrokerErrorMeta {
  ERR_BROKER_ENVELOPE: NoMeta
  ERR_BROKER_ARGUMENT: NoMeta
  ERR_BROKER_UNKNOWN_PARTNER: { network: string }
  ERR_BROKER_TIMEOUT: { network: string; type: string; msgId: string }
  ERR_BROKER_LIMIT: NoMeta
  /** `remoteCode`: the partner's reason (`NO_HANDLER`, `HANDLER_FAILED`). */
  ERR_BROKER_REMOTE: { network: string; type: string; remoteCode: string }
  ERR_BROKER_STOPPED: NoMeta
  ERR_BROKER_LISTEN: { url?: string }
}

/** A failure of the partner link or the embedded broker. */
export class BrokerError<C extends BrokerErrorCode = BrokerErrorCode> extends ProfichainError {
  declare readonly code: C
  declare readonly meta: BrokerErrorMeta[C] & Record<string, unknown>
  constructor(code: C, message: string, ...[meta, options]: ErrorMetaArgs<BrokerErrorMeta, C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'BrokerError'
  }
}
