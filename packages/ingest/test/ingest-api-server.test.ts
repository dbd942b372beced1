import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type TLSSocket } from 'node:tls'
import {
  type AckEntry,
  createTransaction,
  type DecodedIngestFrame,
  decodeFrameBody,
  encodeFrame,
  FrameReader,
  generateKeyPair,
  INGEST_ALPN,
  type KeyPair,
  signHello,
  toHex,
  txId,
} from '@profichain/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createIngestApiServer, ensureCertificate, type GatewayItem, type IngestApiServer, type ReceiptFrame } from '../src/index.js'

const NET = 'api-test'
const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {})
})

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** A device speaking the frames over a real TLS socket; every frame it gets is kept in order. */
async function device(port: number, fingerprint: Uint8Array, key: KeyPair) {
  const frames: DecodedIngestFrame[] = []
  const reader = new FrameReader(64 * 2 ** 20)
  const s: TLSSocket = connect({ host: '127.0.0.1', port, ALPNProtocols: [INGEST_ALPN], rejectUnauthorized: false, minVersion: 'TLSv1.3' })
  cleanup.push(async () => s.destroy())
  s.on('data', (chunk: Buffer) => {
    for (const body of reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
      const f = decodeFrameBody(body, { maxBatch: 1e6 })
      frames.push(f)
      if (f.type === 'server-hello') s.write(encodeFrame({ type: 'hello', publicKey: key.publicKey, signature: signHello(key.seed, f.challenge, fingerprint, NET) }))
    }
  })
  await until('welcome', () => frames.some((f) => f.type === 'welcome'))
  return { s, frames, of: <K extends DecodedIngestFrame['type']>(t: K) => frames.filter((f) => f.type === t) as Array<Extract<DecodedIngestFrame, { type: K }>> }
}

async function server(gateway: Partial<Parameters<typeof createIngestApiServer>[1]['gateway']>): Promise<{ srv: IngestApiServer; port: number; fingerprint: Uint8Array }> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-api-srv-'))
  cleanup.push(() => rm(dir, { recursive: true, force: true }))
  const certificate = await ensureCertificate(dir)
  const srv = createIngestApiServer(
    { port: 0 },
    {
      network: NET,
      certificate,
      gateway: {
        identify: async () => ({ status: 'device', deviceId: 'd', nextSeq: 0 }),
        submit: async (items) => items.map(() => ({ txId: new Uint8Array(32), status: 'accepted', code: '' })),
        owedReceipts: async () => [],
        receiptsAcked: async () => {},
        ...gateway,
      },
    },
  )
  const { port } = await srv.start()
  cleanup.push(() => srv.stop())
  return { srv, port, fingerprint: certificate.fingerprint }
}

const rec = (key: KeyPair, seq: number) => createTransaction(key, { network: NET, seq, payload: new Uint8Array([seq]) })

describe('ingest API server (real TLS sockets)', () => {
  it('hands the next submit to the gateway before the previous one is durable; acks go out in submit order', async () => {
    const calls: Array<{ items: GatewayItem[]; answer: (a: AckEntry[]) => void }> = []
    const { port, fingerprint } = await server({
      submit: (items) => new Promise<AckEntry[]>((answer) => calls.push({ items, answer })),
    })
    const key = generateKeyPair()
    const d = await device(port, fingerprint, key)
    const [t1, t2] = [rec(key, 1), rec(key, 2)]
    d.s.write(encodeFrame({ type: 'submit', batchId: 1, txs: [t1] }))
    d.s.write(encodeFrame({ type: 'submit', batchId: 2, txs: [t2] }))
    // Both reach the gateway while neither is answered (a serial connection would hold the second back).
    await until('both submits at the gateway', () => calls.length === 2)
    // The second is durable first: its ack still waits for the first one's.
    calls[1].answer([{ txId: txId(t2), status: 'accepted', code: '' }])
    calls[0].answer([{ txId: txId(t1), status: 'duplicate', code: '' }])
    const acks = await until('two acks', () => d.of('ack').length === 2 && d.of('ack'))
    expect(acks.map((a) => [a.batchId, a.results[0].status])).toEqual([
      [1, 'duplicate'],
      [2, 'accepted'],
    ])
  })

  it('pushes a receipt once per connection: not again while unacked or after its receipt-ack; one of another block is pushed', async () => {
    const acked: Uint8Array[][] = []
    const { srv, port, fingerprint } = await server({ receiptsAcked: async (_o, ids) => void acked.push(ids) })
    const key = generateKeyPair()
    const d = await device(port, fingerprint, key)
    const id = txId(rec(key, 1))
    const r = (block: number, height: number): ReceiptFrame => ({ type: 'receipt', txId: id, height, blockHash: new Uint8Array(32).fill(block), chainpoint: `{"block":${block}}` })
    expect(srv.pushReceipt(key.publicKey, r(1, 5))).toBe(true)
    expect(srv.pushReceipt(key.publicKey, r(1, 5))).toBe(true) // the fresh-commit and owed-page pushes both found it
    d.s.write(encodeFrame({ type: 'receipt-ack', txIds: [id] }))
    await until('receipt-ack handled', () => acked.length === 1)
    expect(srv.pushReceipt(key.publicKey, r(1, 5))).toBe(true) // a push built before the ack arrived
    expect(srv.pushReceipt(key.publicKey, r(2, 6))).toBe(true) // a reorg moved the record: its new receipt is owed
    const got = await until('the second block’s receipt', () => d.of('receipt').some((f) => f.height === 6) && d.of('receipt'))
    expect(got.map((f) => [f.height, f.chainpoint])).toEqual([
      [5, '{"block":1}'],
      [6, '{"block":2}'],
    ])
  })

  it('pushReceipts: a block’s receipts go to each device in order (one write per connection), absent devices are skipped, receipts acked for either of two blocks are not sent again', async () => {
    const acked: Uint8Array[][] = []
    const { srv, port, fingerprint } = await server({ receiptsAcked: async (_o, ids) => void acked.push(ids) })
    const [ka, kb, absent] = [generateKeyPair(), generateKeyPair(), generateKeyPair()]
    const [a, b] = [await device(port, fingerprint, ka), await device(port, fingerprint, kb)]
    const ids = new Map<string, Uint8Array>()
    const item = (key: typeof ka, seq: number, block: number) => {
      const k = `${toHex(key.publicKey)}:${seq}`
      const id = ids.get(k) ?? txId(rec(key, seq))
      ids.set(k, id)
      const blockHash = new Uint8Array(32).fill(block)
      return { originHex: toHex(key.publicKey), txIdHex: toHex(id), blockHex: toHex(blockHash), receipt: { type: 'receipt' as const, txId: id, height: block, blockHash, chainpoint: `{"seq":${seq},"block":${block}}` } }
    }
    const list = [item(ka, 1, 7), item(kb, 1, 7), item(ka, 2, 7), item(absent, 1, 7), item(ka, 3, 7), item(kb, 2, 7)]
    expect(srv.pushReceipts(list)).toBe(5)
    const ga = await until('device a’s three receipts', () => a.of('receipt').length === 3 && a.of('receipt'))
    expect(ga.map((f) => f.chainpoint)).toEqual(['{"seq":1,"block":7}', '{"seq":2,"block":7}', '{"seq":3,"block":7}'])
    const gb = await until('device b’s two receipts', () => b.of('receipt').length === 2 && b.of('receipt'))
    expect(gb.map((f) => f.chainpoint)).toEqual(['{"seq":1,"block":7}', '{"seq":2,"block":7}'])
    // Receipt-acked for block 7, then (a reorg) for block 8: neither is pushed again; one for block 9 is.
    const r7 = item(ka, 1, 7)
    const r8 = item(ka, 1, 8)
    const r9 = item(ka, 1, 9)
    a.s.write(encodeFrame({ type: 'receipt-ack', txIds: [r7.receipt.txId] }))
    await until('the first receipt-ack', () => acked.length === 1)
    expect(srv.pushReceipts([r8])).toBe(1)
    await until('the block 8 receipt', () => a.of('receipt').length === 4)
    a.s.write(encodeFrame({ type: 'receipt-ack', txIds: [r8.receipt.txId] }))
    await until('the second receipt-ack', () => acked.length === 2)
    expect(srv.pushReceipts([r7, r8, r9])).toBe(3)
    const all = await until('the block 9 receipt', () => a.of('receipt').some((f) => f.height === 9) && a.of('receipt'))
    expect(all.map((f) => f.height)).toEqual([7, 7, 7, 8, 9])
  })
})
