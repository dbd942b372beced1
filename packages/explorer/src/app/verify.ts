import {
  blockHash,
  decodeHeader,
  type ChainpointProof,
  decodeStrippedTx,
  equalBytes,
  evaluateChainpoint,
  fromHex,
  leafHash,
  NATIVE_RECEIPT_TYPE,
  NATIVE_RECEIPT_VERSION,
  type NativeReceipt,
  producerSignature,
  rootFromInclusionProof,
  sha256,
  toHex,
  txId,
  verifyTxSignature,
} from '@profichain/core'
import { authHeaders, gql } from './gql.js'

/** One step of a verification, in the order shown; the first failure stops the rest (they stay 'skipped'). */
export interface Step {
  id: 'hash' | 'record' | 'receipt' | 'signature' | 'proof' | 'block' | 'producer' | 'genesis'
  title: string
  status: 'ok' | 'fail' | 'skipped'
  detail: string
}

export const STEP_TITLES: Array<[Step['id'], string]> = [
  ['hash', 'Hash the file in this browser (SHA-256)'],
  ['record', 'Find the record by its payload hash'],
  ['receipt', 'Receipt names this record and this file'],
  ['signature', 'Record signature by its origin key'],
  ['proof', "Inclusion proof leads to the block's Merkle root"],
  ['block', 'Block hash matches the canonical block of the node'],
  ['producer', "Producer's signature on the block header"],
  ['genesis', 'Producer is a validator of the genesis (genesis = block 0)'],
]

class StepFailure extends Error {}

/**
 * Verifies a file (and optionally its native receipt) with core's pure-JS crypto: nothing about the file
 * leaves the browser but its SHA-256 (to look the record up). Calls onStep after every step, and onReceipt
 * with each receipt it reads (the dropped one once parsed, the node's native one once fetched).
 */
export async function verifyFile(file: Uint8Array, receiptText: string | undefined, onStep: (steps: Step[]) => void, onReceipt?: (receipt: unknown) => void): Promise<Step[]> {
  const steps: Step[] = STEP_TITLES.map(([id, title]) => ({ id, title, status: 'skipped', detail: 'not run' }))
  const done = (id: Step['id'], detail: string): void => {
    const s = steps.find((x) => x.id === id) as Step
    s.status = 'ok'
    s.detail = detail
    onStep(steps)
  }
  const fail = (id: Step['id'], detail: string): never => {
    const s = steps.find((x) => x.id === id) as Step
    s.status = 'fail'
    s.detail = detail
    onStep(steps)
    throw new StepFailure(detail)
  }
  try {
    const hash = sha256(file)
    const hex = toHex(hash)
    done('hash', `${hex} (${file.byteLength} bytes)`)

    const found = await gql<{ transactions: { nodes: Array<{ id: string; height: number; payloadSize: number }> } }>(
      'query($h: String!) { transactions(filter: { payloadHash: $h }, first: 1) { nodes { id height payloadSize } } }',
      { h: hex },
    ).catch((e: Error) => fail('record', e.message))
    const rec = found.transactions.nodes[0]
    if (!rec) fail('record', `no record on this chain has payload hash ${hex}: the file was changed, or it was never recorded here`)
    done('record', `record ${rec.id} in block ${rec.height}`)

    // A dropped receipt is either native (checked on its own) or Chainpoint (what the file watcher writes:
    // its hash must be this file's, and the block hash it leads to is checked in the block step); the
    // signed tx and header then come from the node's native receipt, checked here all the same.
    let receipt: NativeReceipt | undefined
    let chainpointBlocks: string[] | undefined
    if (receiptText) {
      let parsed: NativeReceipt | ChainpointProof
      try {
        parsed = JSON.parse(receiptText) as NativeReceipt | ChainpointProof
      } catch {
        return fail('receipt', 'the receipt file is not JSON')
      }
      onReceipt?.(parsed)
      if ((parsed as ChainpointProof)?.type === 'Chainpoint') {
        const cp = parsed as ChainpointProof
        if (cp.hash !== hex) fail('receipt', `the Chainpoint receipt is for ${String(cp.hash)}, not this file (${hex})`)
        try {
          chainpointBlocks = evaluateChainpoint(cp).map((a) => a.expected)
        } catch (e) {
          return fail('receipt', `the Chainpoint receipt does not evaluate: ${(e as Error).message}`)
        }
      } else receipt = parsed as NativeReceipt
    }
    if (!receipt) {
      const r = await gql<{ receipt: NativeReceipt | null }>('query($id: String!) { receipt(txId: $id, format: NATIVE) }', { id: rec.id }).catch((e: Error) => fail('receipt', e.message))
      if (!r.receipt) return fail('receipt', `the node has no receipt for ${rec.id} yet (not in a block)`)
      receipt = r.receipt
      onReceipt?.(receipt)
    }
    if (receipt?.type !== NATIVE_RECEIPT_TYPE || receipt.version !== NATIVE_RECEIPT_VERSION)
      fail('receipt', `not a Profichain receipt (native JSON, type ${NATIVE_RECEIPT_TYPE} v${NATIVE_RECEIPT_VERSION}) nor a Chainpoint v5 receipt`)
    let tx, header
    try {
      tx = decodeStrippedTx(fromHex(receipt.tx))
      header = decodeHeader(fromHex(receipt.header))
    } catch (e) {
      return fail('receipt', `the receipt's tx or header does not decode: ${(e as Error).message}`)
    }
    // Every field of the receipt must agree with the signed data, or a reader of the JSON could be misled.
    if (receipt.payloadHash !== toHex(tx.body.payloadHash)) fail('receipt', `the receipt says payload ${String(receipt.payloadHash)}, its signed tx ${toHex(tx.body.payloadHash)}`)
    if (receipt.height !== header.height || receipt.network !== header.network) fail('receipt', `the receipt says block ${String(receipt.height)} of ${String(receipt.network)}, its signed header ${header.height} of ${header.network}`)
    if (!equalBytes(tx.body.payloadHash, hash)) fail('receipt', `the receipt is for payload ${toHex(tx.body.payloadHash)}, not this file (${hex})`)
    if (tx.body.payloadSize !== file.byteLength) fail('receipt', `signed size ${tx.body.payloadSize} bytes, the file has ${file.byteLength}`)
    const id = txId(tx)
    if (toHex(id) !== receipt.txId) fail('receipt', `the tx hashes to ${toHex(id)}, the receipt says ${receipt.txId}`)
    done('receipt', `txId ${receipt.txId}, block ${header.height} of ${header.network}${chainpointBlocks ? ' (Chainpoint receipt: hash matches)' : ''}`)

    if (!verifyTxSignature(tx)) fail('signature', `the signature does not verify against origin ${toHex(tx.body.origin)}`)
    done('signature', `signed by origin ${toHex(tx.body.origin)}`)

    let path: Uint8Array[]
    try {
      path = receipt.auditPath.map(fromHex)
    } catch {
      return fail('proof', 'the audit path is not hex')
    }
    if (receipt.treeSize !== header.txCount) fail('proof', `tree size ${receipt.treeSize} differs from the header's ${header.txCount} txs`)
    let root: Uint8Array
    try {
      root = rootFromInclusionProof(leafHash(id), receipt.leafIndex, header.txCount, path)
    } catch (e) {
      return fail('proof', (e as Error).message)
    }
    if (!equalBytes(root, header.merkleRoot)) fail('proof', `the proof leads to ${toHex(root)}, the header root is ${toHex(header.merkleRoot)}`)
    done('proof', `leaf ${receipt.leafIndex} of ${header.txCount} → root ${toHex(root)}`)

    const bh = toHex(blockHash(header))
    if (bh !== receipt.blockHash) fail('block', `the header hashes to ${bh}, the receipt says ${receipt.blockHash}`)
    if (chainpointBlocks && !chainpointBlocks.includes(bh)) fail('block', `the Chainpoint receipt leads to ${chainpointBlocks.join(', ')}, not to block ${bh}`)
    const canon = await gql<{ block: { hash: string } | null }>('query($h: Int!) { block(height: $h) { hash } }', { h: header.height }).catch((e: Error) => fail('block', e.message))
    if (canon.block?.hash !== bh) fail('block', `the node's canonical block ${header.height} is ${canon.block?.hash ?? 'missing'}, not ${bh}`)
    done('block', `block ${header.height} = ${bh}`)

    const prod = producerSignature(header)
    if (!prod) fail('producer', `no valid signature by producer ${toHex(header.producer)} on the header`)
    done('producer', `signed by producer ${toHex(header.producer)}`)

    const res = await fetch('/explorer/genesis.json', { headers: authHeaders() })
    if (!res.ok) fail('genesis', `the node does not serve its genesis (HTTP ${res.status})`)
    const genesisBytes = new Uint8Array(await res.arrayBuffer())
    const b0 = await gql<{ block: { merkleRoot: string } | null }>('{ block(height: 0) { merkleRoot } }').catch((e: Error) => fail('genesis', e.message))
    const gh = toHex(sha256(genesisBytes))
    if (!b0.block || gh !== b0.block.merkleRoot) fail('genesis', `the genesis served hashes to ${gh}, block 0 commits to ${b0.block?.merkleRoot ?? 'nothing'}`)
    const genesis = JSON.parse(new TextDecoder().decode(genesisBytes)) as { network: string; validators: string[] }
    if (genesis.network !== header.network) fail('genesis', `the genesis is for network ${genesis.network}, the block is of ${header.network}`)
    if (!genesis.validators.includes(toHex(header.producer))) fail('genesis', `producer ${toHex(header.producer)} is not among the ${genesis.validators.length} genesis validators`)
    done('genesis', `one of ${genesis.validators.length} validators of ${genesis.network}; genesis SHA-256 ${gh} = block 0 root`)
  } catch (e) {
    if (!(e instanceof StepFailure)) {
      const next = steps.find((s) => s.status === 'skipped')
      if (next) {
        next.status = 'fail'
        next.detail = (e as Error).message
        onStep(steps)
      }
    }
  }
  return steps
}
