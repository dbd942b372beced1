import {
  blockHashHex,
  blockLeaves,
  buildNativeReceipt,
  createBlock,
  createNobleBackend,
  createTransaction,
  getCrypto,
  inclusionProof,
  keyPairFromSeed,
  type NativeReceipt,
  setCrypto,
  sha256,
  signHeader,
  stripTx,
  toHex,
  txIdHex,
  utf8,
} from '@profichain/core'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyFile } from '../src/app/verify.js'

// The in-browser verification against a stubbed node (fetch answers the few GraphQL queries it asks), on the
// pure-JS backend as in the browser. The real app runs against a real node in test/explorer.test.ts.
const NET = 'unit'
const key = keyPairFromSeed(new Uint8Array(32).fill(7))
const other = keyPairFromSeed(new Uint8Array(32).fill(8))
const payloads = ['a,1\n', 'the file\n', 'c,3\n'].map(utf8)
let receipt: NativeReceipt
let genesis: string
let canonical: string
const previous = getCrypto()

function stubNode(): void {
  const tx = receipt.txId
  globalThis.sessionStorage = new (class {
    private m = new Map<string, string>()
    getItem(k: string) {
      return this.m.get(k) ?? null
    }
    setItem(k: string, v: string) {
      this.m.set(k, v)
    }
    removeItem(k: string) {
      this.m.delete(k)
    }
  })() as unknown as Storage
  globalThis.fetch = (async (url: string, init?: { body?: string }) => {
    if (url === '/explorer/genesis.json') return new Response(genesis)
    const { query, variables } = JSON.parse(init?.body ?? '{}') as { query: string; variables: Record<string, unknown> }
    let data: unknown
    if (query.includes('transactions(')) data = { transactions: { nodes: variables.h === receipt.payloadHash ? [{ id: tx, height: 1, payloadSize: payloads[1].byteLength }] : [] } }
    else if (query.includes('receipt(')) data = { receipt }
    else if (query.includes('block(height: 0)')) data = { block: { merkleRoot: toHex(sha256(utf8(genesis))) } }
    else if (query.includes('block(height: $h)')) data = { block: variables.h === 1 ? { hash: canonical } : null }
    else throw new Error(`unexpected query ${query}`)
    return new Response(JSON.stringify({ data }), { headers: { 'content-type': 'application/json' } })
  }) as typeof fetch
}

beforeAll(() => {
  setCrypto(createNobleBackend())
  const txs = payloads.map((p, i) => stripTx(createTransaction(key, { network: NET, seq: i + 1, timestamp: 1_700_000_000_000 + i, payload: p })))
  const block = createBlock({ network: NET, height: 1, timestamp: 1_700_000_001_000, prevHash: new Uint8Array(32), producer: key.publicKey, txs })
  block.header.signatures.push(signHeader(block.header, key))
  receipt = buildNativeReceipt({ tx: txs[1], header: block.header, leafIndex: 1, auditPath: inclusionProof(blockLeaves(txs), 1), anchorBase: 'http://node' })
  expect(receipt.txId).toBe(txIdHex(txs[1]))
  canonical = blockHashHex(block.header)
  genesis = `${JSON.stringify({ network: NET, validators: [toHex(key.publicKey)] }, null, 2)}\n`
  stubNode()
})
afterAll(() => setCrypto(previous))

const statuses = (steps: Array<{ status: string }>) => steps.map((s) => s.status)

describe('verifyFile (the explorer verify view)', () => {
  it('passes every step for the recorded file, with the node receipt and with the receipt given', async () => {
    expect(statuses(await verifyFile(payloads[1], undefined, () => {}))).toEqual(Array(8).fill('ok'))
    expect(statuses(await verifyFile(payloads[1], JSON.stringify(receipt), () => {}))).toEqual(Array(8).fill('ok'))
  })

  it('stops red at the first failing step', async () => {
    expect(statuses(await verifyFile(utf8('the filE\n'), undefined, () => {}))).toEqual(['ok', 'fail', ...Array(6).fill('skipped')])
    // A receipt of another record: red at the receipt step.
    const wrong = { ...receipt, payloadHash: toHex(sha256(payloads[0])) }
    expect(statuses(await verifyFile(payloads[1], JSON.stringify(wrong), () => {}))).toContain('fail')
    // The node's canonical block differs: red at the block step.
    const saved = canonical
    canonical = '00'.repeat(32)
    try {
      expect(statuses(await verifyFile(payloads[1], undefined, () => {}))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'fail', 'skipped', 'skipped'])
    } finally {
      canonical = saved
    }
    // A genesis that does not list the producer (and does not match block 0 either): red at the last step.
    const g = genesis
    genesis = `${JSON.stringify({ network: NET, validators: [toHex(other.publicKey)] }, null, 2)}\n`
    try {
      const s = await verifyFile(payloads[1], undefined, () => {})
      expect(statuses(s)).toEqual([...Array(7).fill('ok'), 'fail'])
    } finally {
      genesis = g
    }
  })

  it('fuzz: a mutated or random receipt never throws or hangs: every run ends all green or with exactly one red step', async () => {
    const hexField = fc.constantFrom('tx', 'header', 'blockHash', 'txId', 'payloadHash')
    const mutation = fc.oneof(
      fc.tuple(hexField, fc.nat(400), fc.constantFrom('0', 'f', 'x', '')).map(([f, i, c]) => (r: Record<string, unknown>) => {
        const v = String(r[f])
        r[f] = v.slice(0, i % (v.length + 1)) + c + v.slice((i % (v.length + 1)) + 1)
      }),
      fc.tuple(fc.constantFrom('leafIndex', 'treeSize', 'height', 'auditPath', 'type', 'version', 'tx', 'header'), fc.jsonValue()).map(([f, v]) => (r: Record<string, unknown>) => {
        r[f] = v
      }),
      fc.constantFrom('tx', 'header', 'auditPath', 'type').map((f) => (r: Record<string, unknown>) => {
        delete r[f]
      }),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.option(fc.string({ unit: 'binary', maxLength: 200 }), { nil: undefined }), async (ms, junk) => {
        const r = structuredClone(receipt) as unknown as Record<string, unknown>
        for (const m of ms) m(r)
        const text = junk ?? JSON.stringify(r)
        const s = statuses(await verifyFile(payloads[1], text, () => {}))
        const fails = s.filter((x) => x === 'fail').length
        expect(fails === 1 || s.every((x) => x === 'ok')).toBe(true)
        if (fails === 1) expect(s.slice(s.indexOf('fail') + 1).every((x) => x === 'skipped')).toBe(true)
      }),
      { numRuns: 150 },
    )
  })
})
