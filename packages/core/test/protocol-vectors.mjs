// Computes the docs/protocol.md test vectors with a given @profichain/core module (src in tests, dist in the
// generator), so the fixture, the doc and the code can be compared. Plain JS so `node` can run the generator.

/** Fixed inputs: change them only together with FORMAT_VERSION. */
export const INPUTS = {
  seed: '0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20',
  network: 'example',
  tx0: { seq: 0, timestamp: 1700000000000, payload: 'hello profichain', metadata: { path: 'a.txt' } },
  tx1: {
    seq: 1,
    timestamp: 1700000000500,
    payload: 'second record',
    metadata: { 'content-type': 'text/plain', path: 'b.txt' },
  },
  block: { height: 1, timestamp: 1700000001000, prevHash: '00'.repeat(32), difficulty: 0, nonce: 0 },
  merkleLeaves: ['', 'a', 'b', 'c', 'd'],
  anchorBase: 'http://127.0.0.1:8545',
}

/** @param {typeof import('../src/index.js')} core */
export function computeProtocolVectors(core) {
  const { fromHex, toHex, utf8 } = core
  const key = core.keyPairFromSeed(fromHex(INPUTS.seed))
  const mk = (t) =>
    core.createTransaction(key, {
      network: INPUTS.network,
      seq: t.seq,
      timestamp: t.timestamp,
      payload: utf8(t.payload),
      metadata: t.metadata,
    })
  const tx0 = mk(INPUTS.tx0)
  const tx1 = mk(INPUTS.tx1)
  const stripped = [core.stripTx(tx0), core.stripTx(tx1)]
  const block = core.createBlock({
    network: INPUTS.network,
    height: INPUTS.block.height,
    timestamp: INPUTS.block.timestamp,
    prevHash: fromHex(INPUTS.block.prevHash),
    producer: key.publicKey,
    difficulty: INPUTS.block.difficulty,
    nonce: INPUTS.block.nonce,
    txs: stripped,
  })
  block.header.signatures.push(core.signHeader(block.header, key))
  const levels = core.merkleLevels(core.blockLeaves(stripped))
  const receiptInput = {
    tx: stripped[0],
    header: block.header,
    leafIndex: 0,
    auditPath: core.auditPathFromLevels(levels, 0),
    anchorBase: INPUTS.anchorBase,
  }
  const chainpoint = core.buildChainpointReceipt(receiptInput)
  const native = core.buildNativeReceipt(receiptInput)
  const mLeaves = INPUTS.merkleLeaves.map((s) => core.leafHash(utf8(s)))

  const vectors = {
    'key.seed': INPUTS.seed,
    'key.publicKey': toHex(key.publicKey),
    'key.nodeId': core.nodeIdOf(key.publicKey),
    'tx0.payloadHash': toHex(tx0.body.payloadHash),
    'tx0.body': toHex(core.encodeTxBody(tx0.body)),
    'tx0.signature': toHex(tx0.signature),
    'tx0.stripped': toHex(core.encodeStrippedTx(tx0)),
    'tx0.transaction': toHex(core.encodeTransaction(tx0)),
    'tx0.txId': core.txIdHex(tx0),
    'tx1.body': toHex(core.encodeTxBody(tx1.body)),
    'tx1.signature': toHex(tx1.signature),
    'tx1.stripped': toHex(core.encodeStrippedTx(tx1)),
    'tx1.txId': core.txIdHex(tx1),
    'block.leaf0': toHex(core.leafHash(core.txId(tx0))),
    'block.leaf1': toHex(core.leafHash(core.txId(tx1))),
    'block.merkleRoot': toHex(block.header.merkleRoot),
    'block.headerBody': toHex(core.encodeHeaderBody(block.header)),
    'block.hash': core.blockHashHex(block.header),
    'block.headerSignature': toHex(block.header.signatures[0].signature),
    'block.header': toHex(core.encodeHeader(block.header)),
    'block.encoded': toHex(core.encodeBlock(block)),
    'merkle.emptyRoot': toHex(core.EMPTY_ROOT),
    ...Object.fromEntries(mLeaves.map((h, i) => [`merkle.leaf${i}`, toHex(h)])),
    'merkle.root': toHex(core.merkleRoot(mLeaves)),
    'merkle.path3': core.inclusionProof(mLeaves, 3).map(toHex).join(','),
    'receipt.proofId': chainpoint.proof_id,
    'vote.encoded': toHex(core.encodeVote(core.voteForHeader(block.header, key))),
  }
  return { vectors, chainpoint, native }
}
