import { CodecError, concatBytes, decodeCbor, encodeCbor, getCrypto, read, utf8 } from '@profichain/core'
import { BrokerError } from './errors.js'

/**
 * The broker envelope, version 1 (docs/broker.md documents every byte, with a vector). One CBOR array:
 *   [1, kind, msgId, inReplyTo | null, senderNetwork, recipientNetwork, senderSigningKey, sentAt, enc, ciphertext, signature]
 * ciphertext = HPKE auth mode (RFC 9180, DHKEM(X25519), HKDF-SHA256, AES-256-GCM) from the sender network's X25519 key
 * to the recipient network's, info = INFO_PREFIX ‖ 0x00 ‖ sender ‖ 0x00 ‖ recipient, aad = msgId; the plaintext is
 * CBOR [type, body] (refusal: [type, code, message]). signature = Ed25519 by the sending node over
 * SIGN_PREFIX ‖ 0x00 ‖ CBOR(the first ten items), checked before anything is decrypted.
 */
export const ENVELOPE_VERSION = 1

/** MQTT topic prefix; a network's inbox is `profichain/1/<network>`. */
export const TOPIC_PREFIX = 'profichain/1/'

export const INFO_PREFIX = 'profichain-broker/1'
export const SIGN_PREFIX = 'profichain-broker/1 envelope'

/** What an envelope is: a request (wants a reply), a one-way send (wants an ack), or one of the answers. */
export const KIND = { request: 0, reply: 1, send: 2, ack: 3, refusal: 4 } as const
export type Kind = keyof typeof KIND
const KIND_NAMES: readonly Kind[] = ['request', 'reply', 'send', 'ack', 'refusal']

export const MSG_ID_BYTES = 16
/** Longest network name (UTF-8 bytes) and message type. */
export const MAX_NETWORK_BYTES = 256
export const MAX_TYPE_BYTES = 128
export const MAX_REFUSAL_TEXT_BYTES = 1024

export interface Envelope {
  kind: Kind
  msgId: Uint8Array
  inReplyTo: Uint8Array | null
  senderNetwork: string
  recipientNetwork: string
  senderSigningKey: Uint8Array
  /** Milliseconds since the Unix epoch, when the message was first sent (re-sends keep it). */
  sentAt: number
  enc: Uint8Array
  ciphertext: Uint8Array
  signature: Uint8Array
}

export type UnsignedEnvelope = Omit<Envelope, 'signature'>

function unsignedItems(e: UnsignedEnvelope) {
  return [
    ENVELOPE_VERSION,
    KIND[e.kind],
    e.msgId,
    e.inReplyTo,
    e.senderNetwork,
    e.recipientNetwork,
    e.senderSigningKey,
    e.sentAt,
    e.enc,
    e.ciphertext,
  ]
}

/** The bytes the sending node signs. */
export function envelopeSigningBytes(e: UnsignedEnvelope): Uint8Array {
  return concatBytes(utf8(SIGN_PREFIX), new Uint8Array([0]), encodeCbor(unsignedItems(e)))
}

/** Sign with the node's Ed25519 seed and encode. */
export function signEnvelope(e: UnsignedEnvelope, seed: Uint8Array): { envelope: Envelope; bytes: Uint8Array } {
  const signature = getCrypto().sign(seed, envelopeSigningBytes(e))
  const envelope = { ...e, signature }
  return { envelope, bytes: encodeEnvelope(envelope) }
}

export function encodeEnvelope(e: Envelope): Uint8Array {
  return encodeCbor([...unsignedItems(e), e.signature])
}

/** Whether the envelope's signature is by its senderSigningKey (strict RFC 8032). */
export function verifyEnvelopeSignature(e: Envelope): boolean {
  return getCrypto().verify(e.senderSigningKey, envelopeSigningBytes(e), e.signature)
}

/**
 * Decode an envelope; anything else (other version, wrong sizes, non-canonical CBOR, trailing bytes) is a
 * BrokerError ERR_BROKER_ENVELOPE. The caller bounds the input size first.
 */
export function decodeEnvelope(bytes: Uint8Array, maxCiphertextBytes: number): Envelope {
  try {
    const v = read.array(decodeCbor(bytes, 'broker envelope'), 11, 'broker envelope')
    const version = read.uint(v[0], 'envelope version')
    if (version !== ENVELOPE_VERSION) throw new CodecError(`envelope version ${version} is not supported (this node speaks ${ENVELOPE_VERSION})`)
    const kindNo = read.uint(v[1], 'envelope kind')
    const kind = KIND_NAMES[kindNo]
    if (kind === undefined) throw new CodecError(`envelope kind ${kindNo} is unknown`)
    const msgId = read.bytes(v[2], 'msgId', MSG_ID_BYTES)
    const answer = kind === 'reply' || kind === 'ack' || kind === 'refusal'
    let inReplyTo: Uint8Array | null = null
    if (answer) inReplyTo = read.bytes(v[3], 'inReplyTo', MSG_ID_BYTES)
    else if (v[3] !== null) throw new CodecError(`inReplyTo: must be null in a ${kind}`)
    const senderNetwork = networkName(read.text(v[4], 'senderNetwork', MAX_NETWORK_BYTES))
    const recipientNetwork = networkName(read.text(v[5], 'recipientNetwork', MAX_NETWORK_BYTES))
    const senderSigningKey = read.bytes(v[6], 'senderSigningKey', 32)
    const sentAt = read.uint(v[7], 'sentAt')
    const enc = read.bytes(v[8], 'enc', 32)
    const ciphertext = read.bytes(v[9], 'ciphertext', undefined, maxCiphertextBytes)
    if (ciphertext.byteLength < 16) throw new CodecError('ciphertext: shorter than the AES-GCM tag')
    const signature = read.bytes(v[10], 'signature', 64)
    return { kind, msgId, inReplyTo, senderNetwork, recipientNetwork, senderSigningKey, sentAt, enc, ciphertext, signature }
  } catch (err) {
    if (err instanceof BrokerError) throw err
    throw new BrokerError('ERR_BROKER_ENVELOPE', `not a broker envelope: ${(err as Error).message}`, {}, { cause: err })
  }
}

function networkName(s: string): string {
  if (!isValidNetworkName(s)) throw new CodecError('network name: empty, or holds an MQTT wildcard (+ #) or NUL')
  return s
}

/** A network name usable as the last levels of an MQTT topic: 1-256 UTF-8 bytes, no `+`, `#` or NUL. */
export function isValidNetworkName(s: string): boolean {
  return typeof s === 'string' && s.length > 0 && Buffer.byteLength(s) <= MAX_NETWORK_BYTES && !/[+#]/.test(s) && !s.includes('\u0000')
}

/** HPKE `info`: binds the ciphertext to the sender and recipient networks. */
export function hpkeInfo(sender: string, recipient: string): Uint8Array {
  return concatBytes(utf8(INFO_PREFIX), new Uint8Array([0]), utf8(sender), new Uint8Array([0]), utf8(recipient))
}

/** The plaintext inside the ciphertext. */
export type Plaintext = { type: string; body: Uint8Array } | { type: string; code: string; message: string }

export function encodePlaintext(p: Plaintext): Uint8Array {
  return encodeCbor('body' in p ? [p.type, p.body] : [p.type, p.code, p.message])
}

export function decodePlaintext(bytes: Uint8Array, kind: Kind): Plaintext {
  try {
    const v = decodeCbor(bytes, 'broker plaintext')
    if (kind === 'refusal') {
      const a = read.array(v, 3, 'refusal')
      return {
        type: read.text(a[0], 'type', MAX_TYPE_BYTES),
        code: read.text(a[1], 'code', MAX_TYPE_BYTES),
        message: read.text(a[2], 'message', MAX_REFUSAL_TEXT_BYTES),
      }
    }
    const a = read.array(v, 2, 'plaintext')
    return { type: read.text(a[0], 'type', MAX_TYPE_BYTES), body: read.bytes(a[1], 'body') }
  } catch (err) {
    throw new BrokerError('ERR_BROKER_ENVELOPE', `not a broker plaintext: ${(err as Error).message}`, {}, { cause: err })
  }
}
