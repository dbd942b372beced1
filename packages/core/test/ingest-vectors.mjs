// Computes the docs/ingest-protocol.md test vectors with a given @profichain/core module (src in tests, dist in
// the generator), so the fixture, the doc, the TypeScript code and the Python client can be compared.
// Plain JS so `node` can run the generator.

/** Fixed inputs: change them only together with INGEST_PROTOCOL_VERSION (clients are tested against them). */
export const INGEST_INPUTS = {
  deviceSeed: '4142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60',
  network: 'example',
  challenge: 'c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf',
  /** SHA-256 of the server certificate's DER (here a fixed value: the vector does not depend on a real certificate). */
  certFingerprint: 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f',
  limits: { maxFrameBytes: 4194304, maxBatch: 256, maxInFlight: 8 },
  welcome: { deviceId: 'sensor-1', registered: true, nextSeq: 6 },
  /** A plain record. */
  tx0: { seq: 0, timestamp: 1700000000000, payload: 'hello device', metadata: { 'content-type': 'text/plain' } },
  /** A tier-2 record: payload = sealTier2(plaintext) under dataKey/epoch at this seq with this nonce. */
  tier2: {
    dataKey: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    epoch: 7,
    seq: 4294967301,
    nonce: 'a0a1a2a3a4a5a6a7a8a9aaab',
    plaintext: '{"temperature":21.5}',
    timestamp: 1700000000500,
    metadata: { 'content-type': 'application/json' },
  },
  batchId: 1,
  ack: [
    { status: 'accepted', code: '' },
    { status: 'rejected', code: 'REPLAY' },
  ],
  receipt: {
    height: 12,
    blockHash: '1111111111111111111111111111111111111111111111111111111111111111',
    chainpoint: '{"@context":"https://w3id.org/chainpoint/v5"}',
  },
  error: { code: 'FRAME_TOO_LARGE', message: 'frame of 5000000 bytes exceeds the 4194304-byte limit; send smaller batches' },
}

/** @param {typeof import('../src/index.js')} core */
export function computeIngestVectors(core) {
  const { fromHex, toHex, utf8 } = core
  const I = INGEST_INPUTS
  const key = core.keyPairFromSeed(fromHex(I.deviceSeed))
  const challenge = fromHex(I.challenge)
  const fingerprint = fromHex(I.certFingerprint)
  const helloMessage = core.helloMessage(challenge, fingerprint, I.network)
  const helloSignature = core.signHello(key.seed, challenge, fingerprint, I.network)

  const tx0 = core.createTransaction(key, {
    network: I.network,
    seq: I.tx0.seq,
    timestamp: I.tx0.timestamp,
    payload: utf8(I.tx0.payload),
    metadata: I.tx0.metadata,
  })
  const t = I.tier2
  const dataKey = fromHex(t.dataKey)
  const sealed = core.sealTier2({ dataKey, origin: key.publicKey, epoch: t.epoch, seq: t.seq, plaintext: utf8(t.plaintext), nonce: fromHex(t.nonce) })
  const tx1 = core.createTransaction(key, {
    network: I.network,
    seq: t.seq,
    timestamp: t.timestamp,
    payload: sealed.payload,
    metadata: { ...t.metadata, ...sealed.metadata },
  })
  const ids = [core.txId(tx0), core.txId(tx1)]
  const frame = (f) => toHex(core.encodeFrame(f))
  const frames = {
    'server-hello': frame({ type: 'server-hello', challenge, network: I.network, limits: I.limits }),
    hello: frame({ type: 'hello', publicKey: key.publicKey, signature: helloSignature }),
    welcome: frame({ type: 'welcome', ...I.welcome }),
    submit: frame({ type: 'submit', batchId: I.batchId, txs: [tx0, tx1] }),
    ack: frame({ type: 'ack', batchId: I.batchId, results: I.ack.map((a, i) => ({ txId: ids[i], ...a })) }),
    receipt: frame({ type: 'receipt', txId: ids[0], height: I.receipt.height, blockHash: fromHex(I.receipt.blockHash), chainpoint: I.receipt.chainpoint }),
    error: frame({ type: 'error', ...I.error }),
    'receipt-ack': frame({ type: 'receipt-ack', txIds: [ids[0]] }),
  }
  const tier2 = {
    recordKey: toHex(sealed.recordKey),
    encKey: toHex(core.tier2EncKey(sealed.recordKey)),
    commitment: toHex(sealed.commitment),
    aad: toHex(core.tier2Aad(key.publicKey, t.epoch, t.seq)),
    payload: toHex(sealed.payload),
    metadata: sealed.metadata,
  }
  return {
    vectors: {
      devicePublicKey: toHex(key.publicKey),
      helloMessage: toHex(helloMessage),
      helloSignature: toHex(helloSignature),
      'tx0.transaction': toHex(core.encodeTransaction(tx0)),
      'tx0.txId': toHex(ids[0]),
      'tx1.transaction': toHex(core.encodeTransaction(tx1)),
      'tx1.txId': toHex(ids[1]),
    },
    tier2,
    frames,
  }
}
