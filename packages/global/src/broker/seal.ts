import type { KeyPair } from '@profichain/core'
import {
  type Envelope,
  decodePlaintext,
  encodePlaintext,
  hpkeInfo,
  type Kind,
  type Plaintext,
  signEnvelope,
} from './envelope.js'
import { type HpkeKeyPair, hpkeSuite } from './hpke.js'

const suite = hpkeSuite()

export interface SealParams {
  kind: Kind
  msgId: Uint8Array
  inReplyTo: Uint8Array | null
  sender: { network: string; signingKey: KeyPair; hpkeKeyPair: HpkeKeyPair }
  recipient: { network: string; hpkePublicKey: Uint8Array }
  plaintext: Plaintext
  /** Default Date.now(). */
  sentAt?: number
  /** HPKE ephemeral key material (RFC 9180 DeriveKeyPair ikm): only for test vectors, never in use. */
  ekm?: Uint8Array
}

/** Encrypt (HPKE auth mode) and sign one envelope; returns its encoded bytes. */
export async function sealEnvelope(p: SealParams): Promise<{ envelope: Envelope; bytes: Uint8Array }> {
  const senderKey = {
    privateKey: await suite.kem.deserializePrivateKey(p.sender.hpkeKeyPair.privateKey),
    publicKey: await suite.kem.deserializePublicKey(p.sender.hpkeKeyPair.publicKey),
  }
  const { ct, enc } = await suite.seal(
    {
      recipientPublicKey: await suite.kem.deserializePublicKey(p.recipient.hpkePublicKey),
      senderKey,
      info: hpkeInfo(p.sender.network, p.recipient.network),
      ...(p.ekm ? { ekm: p.ekm } : {}),
    },
    encodePlaintext(p.plaintext),
    p.msgId,
  )
  return signEnvelope(
    {
      kind: p.kind,
      msgId: p.msgId,
      inReplyTo: p.inReplyTo,
      senderNetwork: p.sender.network,
      recipientNetwork: p.recipient.network,
      senderSigningKey: p.sender.signingKey.publicKey,
      sentAt: p.sentAt ?? Date.now(),
      enc: new Uint8Array(enc),
      ciphertext: new Uint8Array(ct),
    },
    p.sender.signingKey.seed,
  )
}

/**
 * Decrypt an envelope (its signature already checked) with the recipient network's key pair, authenticating
 * the sender network's X25519 key. Throws on a wrong key or tampered ciphertext (HPKE OpenError), or a
 * plaintext that does not decode (BrokerError ERR_BROKER_ENVELOPE).
 */
export async function openEnvelope(e: Envelope, recipient: HpkeKeyPair, senderHpkePublicKey: Uint8Array): Promise<Plaintext> {
  const pt = await suite.open(
    {
      recipientKey: {
        privateKey: await suite.kem.deserializePrivateKey(recipient.privateKey),
        publicKey: await suite.kem.deserializePublicKey(recipient.publicKey),
      },
      enc: e.enc,
      senderPublicKey: await suite.kem.deserializePublicKey(senderHpkePublicKey),
      info: hpkeInfo(e.senderNetwork, e.recipientNetwork),
    },
    e.ciphertext,
    e.msgId,
  )
  return decodePlaintext(new Uint8Array(pt), e.kind)
}
