// The broker envelope, version 1: the documented vector (docs/broker.md), checked here against an
// independent RFC 9180 auth-mode decryption with node:crypto; round trips; fuzzing of the decoders.
import { createDecipheriv, createHmac, createPrivateKey, createPublicKey, diffieHellman, verify } from 'node:crypto'
import { concatBytes, encodeCbor, fromHex, keyPairFromSeed, toHex, utf8 } from '@profichain/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BrokerError,
  decodeEnvelope,
  decodePlaintext,
  type Envelope,
  ENVELOPE_KIND,
  type EnvelopeKind,
  encodeEnvelope,
  generateHpkeKeyPair,
  hpkeKeyPairFromPrivateKey,
  hpkePublicKeyFromHex,
  hpkePublicKeyToHex,
  openEnvelope,
  sealEnvelope,
  verifyEnvelopeSignature,
} from '../src/index.js'

const VECTOR = {
  signingSeed: '01'.repeat(32),
  signingPublicKey: '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c',
  senderHpkePrivate: '11'.repeat(32),
  senderHpkePublic: '7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13',
  recipientHpkePrivate: '22'.repeat(32),
  recipientHpkePublic: '0faa684ed28867b97f4a6a2dee5df8ce974e76b7018e3f22a1c4cf2678570f20',
  ekm: '33'.repeat(32),
  msgId: '000102030405060708090a0b0c0d0e0f',
  sentAt: 1764374400000,
  sender: 'acme.example/plant-1',
  recipient: 'globex.example/line-2',
  type: 'echo/1',
  body: 'hello',
  envelope:
    '8b010050000102030405060708090a0b0c0d0e0ff67461636d652e6578616d706c652f706c616e742d3175676c6f6265782e6578616d706c652f6c696e652d32' +
    '58208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c1b0000019acce8cc00' +
    '5820a04588b74683334f6e7670db45cca1288fc2c1499d78715d9456f5d99261a823' +
    '581e02bff6cd9c947726f2a8452130f44834da6b27650ee4a07f82e99ddf75de' +
    '5840079c164eb81cd3cb591d039aca78ee6fed7a065019b62716a5df213fd84fa51d2687f739d4e35c06114d9d97e7f0fe105969fe579317432f748511d285762e0a',
}

/** RFC 9180 §4/§5.1 auth-mode open, written from the RFC with node:crypto only (no @hpke code). */
function rfc9180AuthOpen(p: { skR: Uint8Array; pkR: Uint8Array; pkS: Uint8Array; enc: Uint8Array; info: Uint8Array; aad: Uint8Array; ct: Uint8Array }) {
  const x25519Priv = (k: Uint8Array) => createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), k]), format: 'der', type: 'pkcs8' })
  const x25519Pub = (k: Uint8Array) => createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), k]), format: 'der', type: 'spki' })
  const i2osp = (n: number, len: number) => Uint8Array.from({ length: len }, (_, i) => (n >> (8 * (len - 1 - i))) & 0xff)
  const hmac = (key: Uint8Array, data: Uint8Array) => new Uint8Array(createHmac('sha256', key).update(data).digest())
  const labeledExtract = (suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array) => hmac(salt, concatBytes(utf8('HPKE-v1'), suite, utf8(label), ikm))
  const labeledExpand = (suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, len: number) =>
    hmac(prk, concatBytes(i2osp(len, 2), utf8('HPKE-v1'), suite, utf8(label), info, new Uint8Array([1]))).subarray(0, len)
  const kemSuite = concatBytes(utf8('KEM'), i2osp(0x0020, 2))
  const dh = concatBytes(
    new Uint8Array(diffieHellman({ privateKey: x25519Priv(p.skR), publicKey: x25519Pub(p.enc) })),
    new Uint8Array(diffieHellman({ privateKey: x25519Priv(p.skR), publicKey: x25519Pub(p.pkS) })),
  )
  const eaePrk = labeledExtract(kemSuite, new Uint8Array(0), 'eae_prk', dh)
  const sharedSecret = labeledExpand(kemSuite, eaePrk, 'shared_secret', concatBytes(p.enc, p.pkR, p.pkS), 32)
  const hpkeSuite = concatBytes(utf8('HPKE'), i2osp(0x0020, 2), i2osp(0x0001, 2), i2osp(0x0002, 2))
  const context = concatBytes(
    new Uint8Array([0x02]), // mode_auth
    labeledExtract(hpkeSuite, new Uint8Array(0), 'psk_id_hash', new Uint8Array(0)),
    labeledExtract(hpkeSuite, new Uint8Array(0), 'info_hash', p.info),
  )
  const secret = labeledExtract(hpkeSuite, sharedSecret, 'secret', new Uint8Array(0))
  const key = labeledExpand(hpkeSuite, secret, 'key', context, 32)
  const nonce = labeledExpand(hpkeSuite, secret, 'base_nonce', context, 12)
  const d = createDecipheriv('aes-256-gcm', key, nonce)
  d.setAAD(p.aad)
  d.setAuthTag(p.ct.subarray(p.ct.length - 16))
  return new Uint8Array(Buffer.concat([d.update(p.ct.subarray(0, p.ct.length - 16)), d.final()]))
}

async function vectorEnvelope() {
  return sealEnvelope({
    kind: 'request',
    msgId: fromHex(VECTOR.msgId),
    inReplyTo: null,
    sender: { network: VECTOR.sender, signingKey: keyPairFromSeed(fromHex(VECTOR.signingSeed)), hpkeKeyPair: hpkeKeyPairFromPrivateKey(fromHex(VECTOR.senderHpkePrivate)) },
    recipient: { network: VECTOR.recipient, hpkePublicKey: fromHex(VECTOR.recipientHpkePublic) },
    plaintext: { type: VECTOR.type, body: utf8(VECTOR.body) },
    sentAt: VECTOR.sentAt,
    ekm: fromHex(VECTOR.ekm),
  })
}

describe('broker envelope v1', () => {
  it('reproduces the documented vector byte for byte', async () => {
    expect(toHex(keyPairFromSeed(fromHex(VECTOR.signingSeed)).publicKey)).toBe(VECTOR.signingPublicKey)
    expect(toHex(hpkeKeyPairFromPrivateKey(fromHex(VECTOR.senderHpkePrivate)).publicKey)).toBe(VECTOR.senderHpkePublic)
    expect(toHex(hpkeKeyPairFromPrivateKey(fromHex(VECTOR.recipientHpkePrivate)).publicKey)).toBe(VECTOR.recipientHpkePublic)
    const { bytes } = await vectorEnvelope()
    expect(toHex(bytes)).toBe(VECTOR.envelope)
  })

  it('the vector decrypts with an independent RFC 9180 auth-mode implementation and verifies with plain Ed25519', async () => {
    const e = decodeEnvelope(fromHex(VECTOR.envelope), 1 << 20)
    expect(e).toMatchObject({ kind: 'request', inReplyTo: null, senderNetwork: VECTOR.sender, recipientNetwork: VECTOR.recipient, sentAt: VECTOR.sentAt })
    const info = concatBytes(utf8('profichain-broker/1'), new Uint8Array([0]), utf8(VECTOR.sender), new Uint8Array([0]), utf8(VECTOR.recipient))
    const pt = rfc9180AuthOpen({
      skR: fromHex(VECTOR.recipientHpkePrivate),
      pkR: fromHex(VECTOR.recipientHpkePublic),
      pkS: fromHex(VECTOR.senderHpkePublic),
      enc: e.enc,
      info,
      aad: fromHex(VECTOR.msgId),
      ct: e.ciphertext,
    })
    expect(toHex(pt)).toBe(toHex(encodeCbor([VECTOR.type, utf8(VECTOR.body)])))
    // signature: Ed25519 over "profichain-broker/1 envelope" ‖ 0x00 ‖ CBOR(first ten items)
    const unsigned = encodeCbor([1, 0, e.msgId, null, e.senderNetwork, e.recipientNetwork, e.senderSigningKey, e.sentAt, e.enc, e.ciphertext])
    const signed = concatBytes(utf8('profichain-broker/1 envelope'), new Uint8Array([0]), unsigned)
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), e.senderSigningKey])
    expect(verify(null, signed, createPublicKey({ key: spki, format: 'der', type: 'spki' }), e.signature)).toBe(true)
    expect(verifyEnvelopeSignature(e)).toBe(true)
    // our own open agrees, and a wrong recipient key or sender key does not open it
    const recipient = hpkeKeyPairFromPrivateKey(fromHex(VECTOR.recipientHpkePrivate))
    expect(await openEnvelope(e, recipient, fromHex(VECTOR.senderHpkePublic))).toEqual({ type: VECTOR.type, body: utf8(VECTOR.body) })
    await expect(openEnvelope(e, generateHpkeKeyPair(), fromHex(VECTOR.senderHpkePublic))).rejects.toThrow()
    await expect(openEnvelope(e, recipient, generateHpkeKeyPair().publicKey)).rejects.toThrow()
    await expect(openEnvelope({ ...e, msgId: new Uint8Array(16) }, recipient, fromHex(VECTOR.senderHpkePublic))).rejects.toThrow()
    // a changed byte anywhere breaks the signature
    expect(verifyEnvelopeSignature({ ...e, sentAt: e.sentAt + 1 })).toBe(false)
    expect(verifyEnvelopeSignature({ ...e, recipientNetwork: 'other' })).toBe(false)
  })

  it('round-trips every well-formed envelope (property)', () => {
    const b = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
    const network = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/[+#]/.test(s) && !s.includes('\u0000'))
    const kinds = Object.keys(ENVELOPE_KIND) as EnvelopeKind[]
    const arb = fc.record({
      kind: fc.constantFrom(...kinds),
      msgId: b(16),
      inReplyTo: b(16),
      senderNetwork: network,
      recipientNetwork: network,
      senderSigningKey: b(32),
      sentAt: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      enc: b(32),
      ciphertext: fc.uint8Array({ minLength: 16, maxLength: 300 }),
      signature: b(64),
    })
    fc.assert(
      fc.property(arb, (x) => {
        const e: Envelope = { ...x, inReplyTo: x.kind === 'request' || x.kind === 'send' ? null : x.inReplyTo }
        const bytes = encodeEnvelope(e)
        expect(decodeEnvelope(bytes, 1024)).toEqual(e)
      }),
    )
  })

  it('fuzz: random and mutated bytes give ERR_BROKER_ENVELOPE or an envelope, never a crash or another error', async () => {
    const valid = fromHex(VECTOR.envelope)
    const check = (bytes: Uint8Array) => {
      try {
        const e = decodeEnvelope(bytes, 1024)
        expect(encodeEnvelope(e)).toEqual(bytes) // anything accepted is canonical
      } catch (err) {
        expect(err).toBeInstanceOf(BrokerError)
        expect((err as BrokerError).code).toBe('ERR_BROKER_ENVELOPE')
      }
      try {
        decodePlaintext(bytes, 'request')
        decodePlaintext(bytes, 'refusal')
      } catch (err) {
        expect((err as BrokerError).code).toBe('ERR_BROKER_ENVELOPE')
      }
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), check), { numRuns: 2000 })
    const mutation = fc.oneof(
      fc.record({ at: fc.nat(valid.length - 1), xor: fc.integer({ min: 1, max: 255 }) }).map(({ at, xor }) => Uint8Array.from(valid, (v, i) => (i === at ? v ^ xor : v))),
      fc.nat(valid.length - 1).map((n) => valid.subarray(0, n)),
      fc.uint8Array({ minLength: 1, maxLength: 20 }).map((tail) => concatBytes(valid, tail)),
      fc.record({ at: fc.nat(valid.length - 1), ins: fc.uint8Array({ minLength: 1, maxLength: 4 }) }).map(({ at, ins }) =>
        concatBytes(valid.subarray(0, at), ins, valid.subarray(at)),
      ),
    )
    fc.assert(fc.property(mutation, check), { numRuns: 3000 })
    // a ciphertext over the limit given by the caller is refused before anything else
    expect(() => decodeEnvelope(valid, 8)).toThrow(BrokerError)
    // structures that decode as CBOR but are not envelopes
    for (const v of [[], [2], [1, 9, new Uint8Array(16), null, 'a', 'b', new Uint8Array(32), 0, new Uint8Array(32), new Uint8Array(16), new Uint8Array(64)]]) {
      expect(() => decodeEnvelope(encodeCbor(v), 1024)).toThrow(expect.objectContaining({ code: 'ERR_BROKER_ENVELOPE' }))
    }
    // a request must not name what it replies to, a reply must; network names hold no wildcards
    const e = decodeEnvelope(valid, 1024)
    expect(() => decodeEnvelope(encodeEnvelope({ ...e, inReplyTo: new Uint8Array(16) }), 1024)).toThrow(BrokerError)
    expect(() => decodeEnvelope(encodeEnvelope({ ...e, kind: 'reply', inReplyTo: null }), 1024)).toThrow(BrokerError)
    expect(() => decodeEnvelope(encodeEnvelope({ ...e, recipientNetwork: 'a/#' }), 1024)).toThrow(BrokerError)
  })

  it('HPKE keys as hex for the config', () => {
    const kp = generateHpkeKeyPair()
    expect(kp.publicKey).toHaveLength(32)
    expect(kp.privateKey).toHaveLength(32)
    expect(hpkeKeyPairFromPrivateKey(kp.privateKey).publicKey).toEqual(kp.publicKey)
    const hex = hpkePublicKeyToHex(kp.publicKey)
    expect(hex).toMatch(/^[0-9a-f]{64}$/)
    expect(hpkePublicKeyFromHex(hex)).toEqual(kp.publicKey)
    expect(hpkePublicKeyFromHex(hex.toUpperCase())).toEqual(kp.publicKey)
    for (const bad of ['', 'zz'.repeat(32), 'ab'.repeat(31), 'ab'.repeat(33)]) {
      expect(() => hpkePublicKeyFromHex(bad)).toThrow(expect.objectContaining({ code: 'ERR_BROKER_ARGUMENT' }))
    }
    expect(() => hpkePublicKeyToHex(new Uint8Array(31))).toThrow(BrokerError)
  })
})
