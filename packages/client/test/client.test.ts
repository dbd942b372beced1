import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createNobleBackend, getCrypto, keyPairFromSeed, openTier2Tx, setCrypto, toHex, utf8, verifyTxSignature } from '@profichain/core'
import { type ClientReceipt, createClient, type ProfichainClient } from '../src/index.js'
import { FakeNode, newState } from './fake-node.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function key(n: number) {
  return keyPairFromSeed(new Uint8Array(32).fill(n))
}

async function node(init: ConstructorParameters<typeof FakeNode>[0] = {}, port = 0): Promise<FakeNode> {
  const n = new FakeNode(init)
  await n.start(port)
  cleanups.push(() => n.stop())
  return n
}

function client(n: FakeNode, extra: Partial<Parameters<typeof createClient>[0]> = {}): ProfichainClient {
  const c = createClient({ host: '127.0.0.1', port: n.port, fingerprint: n.cert.fingerprint, network: n.network, deviceKey: key(1), backoffMs: { initial: 20, max: 200 }, ...extra })
  cleanups.push(() => c.close())
  return c
}

function until(pred: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (pred()) resolve()
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`))
      else setTimeout(tick, 10)
    }
    tick()
  })
}

describe('client against an in-test ingest server (real TLS)', () => {
  it('submits, resolves on ack, verifies and stores pushed receipts, acknowledges them', async () => {
    const n = await node({ receipts: true })
    const dir = mkdtempSync(join(tmpdir(), 'pc-spool-'))
    const c = client(n, { spoolDir: dir })
    const receipts: ClientReceipt[] = []
    c.on('receipt', (r) => receipts.push(r))
    await c.start()
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => c.submit(utf8(`reading ${i}`), { sensor: 't1' })))
    expect(results.map((r) => r.status)).toEqual(Array(30).fill('accepted'))
    expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i))
    await until(() => n.state.receiptAcked.size === 30, 'receipt-acks')
    expect(receipts).toHaveLength(30)
    expect(new Set(receipts.map((r) => r.txId))).toEqual(new Set(results.map((r) => r.txId)))
    const files = readdirSync(join(dir, 'receipts')).filter((f) => f.endsWith('.json'))
    expect(files).toHaveLength(30)
    const one = JSON.parse(readFileSync(join(dir, 'receipts', files[0]), 'utf8'))
    expect(one.chainpoint.type).toBe('Chainpoint')
    expect(c.awaitingReceipts).toBe(0)
    expect(n.state.accepted).toHaveLength(30)
  })

  it('a receipt pushed twice is stored and reported once, and acknowledged each time', async () => {
    const n = await node({ receipts: true, pushTwice: true })
    const dir = mkdtempSync(join(tmpdir(), 'pc-spool-'))
    const c = client(n, { spoolDir: dir })
    const receipts: string[] = []
    const failures: string[] = []
    c.on('receipt', (r) => receipts.push(r.txId))
    c.on('failure', (e) => failures.push(e.message))
    await c.start()
    const r = await Promise.all(Array.from({ length: 10 }, (_, i) => c.submit(utf8(`twice ${i}`))))
    await until(() => n.state.receiptAckCount === 20, 'both pushes acknowledged')
    expect(failures).toEqual([])
    expect(receipts.sort()).toEqual(r.map((x) => x.txId).sort())
    expect(readdirSync(join(dir, 'receipts')).filter((f) => f.endsWith('.json'))).toHaveLength(10)
    expect(c.awaitingReceipts).toBe(0)
  })

  it('refuses a server whose certificate is not the pinned one, before sending a byte', async () => {
    const n = await node()
    const wrong = 'ab'.repeat(32)
    const c = client(n, { fingerprint: wrong, firstSeq: 0 })
    const failures: string[] = []
    c.on('failure', (e) => failures.push(e.code))
    await c.start()
    await until(() => failures.length >= 2, 'two refused attempts')
    expect(failures.every((f) => f === 'ERR_FINGERPRINT_MISMATCH')).toBe(true)
    expect(n.bytesReceived).toBe(0)
    expect(c.connected).toBe(false)
  })

  it('a refused record rejects with ERR_REJECTED and the node code; the others are accepted', async () => {
    const n = await node({ reject: (tx) => (tx.body.metadata.bad === '1' ? 'TX_TOO_LARGE' : undefined) })
    const c = client(n)
    await c.start()
    const ok = c.submit(utf8('fine'))
    const bad = c.submit(utf8('bad'), { bad: '1' })
    await expect(bad).rejects.toMatchObject({ code: 'ERR_REJECTED', meta: { code: 'TX_TOO_LARGE' } })
    await expect(ok).resolves.toMatchObject({ status: 'accepted' })
  })

  it('a record above the node\'s frame limit is refused locally (FRAME_TOO_LARGE), never sent; the others go on', async () => {
    const n = await node({ maxFrameBytes: 4096 })
    const dir = mkdtempSync(join(tmpdir(), 'pc-spool-'))
    const c = client(n, { spoolDir: dir })
    await c.start()
    const big = c.submit(new Uint8Array(5000))
    const small = c.submit(new Uint8Array(100))
    await expect(big).rejects.toMatchObject({ code: 'ERR_REJECTED', meta: { code: 'FRAME_TOO_LARGE' } })
    await expect(small).resolves.toMatchObject({ status: 'accepted' })
    expect(n.state.accepted).toHaveLength(1)
    expect(c.pending).toBe(0)
  })

  it('closed for idleness with nothing to do, it stays away until the next record', async () => {
    const n = await node({ idleFirst: true })
    const c = client(n)
    const failures: string[] = []
    c.on('failure', (e) => failures.push(e.code))
    await c.start()
    await until(() => c.state === 'idle', 'idle state')
    expect(n.connectionsTotal).toBe(1)
    await expect(c.submit(utf8('later'))).resolves.toMatchObject({ status: 'accepted', seq: 0 })
    expect(n.connectionsTotal).toBe(2)
    expect(c.state).toBe('connected')
    expect(failures).toEqual([])
  })

  it('retries RATE_LIMITED records instead of dropping them', async () => {
    let refusals = 3
    const n = await node({ reject: () => (refusals-- > 0 ? 'RATE_LIMITED' : undefined) })
    const c = client(n)
    await c.start()
    await expect(c.submit(utf8('x'))).resolves.toMatchObject({ status: 'accepted' })
    expect(n.state.accepted).toHaveLength(1)
  })

  it('a tampered receipt is reported, neither stored nor acknowledged', async () => {
    const n = await node({ receipts: true, mangleReceipt: (t) => t.replace(/"hash":"[0-9a-f]{2}/, '"hash":"00') })
    const dir = mkdtempSync(join(tmpdir(), 'pc-spool-'))
    const c = client(n, { spoolDir: dir })
    const failures: string[] = []
    c.on('failure', (e) => failures.push(e.code))
    await c.start()
    await c.submit(utf8('x'))
    await until(() => failures.includes('ERR_RECEIPT_INVALID'), 'invalid receipt reported')
    expect(n.state.receiptAcked.size).toBe(0)
    expect(readdirSync(join(dir, 'receipts'))).toHaveLength(0)
    expect(c.awaitingReceipts).toBe(1)
  })

  it('spooled records queued while the node is down are sent after a restart of the client, once each', async () => {
    const state = newState()
    const dir = mkdtempSync(join(tmpdir(), 'pc-spool-'))
    const down = await node({ state })
    const port = down.port
    await down.stop()
    // Offline: seq from firstSeq, records fsynced to the spool, nothing acknowledged.
    const c1 = createClient({ host: '127.0.0.1', port, fingerprint: down.cert.fingerprint, network: down.network, deviceKey: key(2), spoolDir: dir, firstSeq: 0, backoffMs: { initial: 20, max: 100 } })
    await c1.start()
    const queued = await Promise.all(Array.from({ length: 25 }, (_, i) => c1.queue(utf8(`offline ${i}`))))
    await c1.close()
    expect(state.accepted).toHaveLength(0)
    // The device restarts; the node is back.
    const up = await node({ state }, port)
    const c2 = client(up, { deviceKey: key(2), spoolDir: dir })
    const acks: string[] = []
    c2.on('ack', (a) => acks.push(a.txId))
    await c2.start()
    await c2.drain({ timeoutMs: 15_000 })
    expect(new Set(acks)).toEqual(new Set(queued.map((q) => q.txId)))
    expect(state.accepted).toHaveLength(25)
    // New records continue after the spooled ones.
    const next = await c2.submit(utf8('after restart'))
    expect(next.seq).toBe(25)
  })

  it('a connection cut after the node stored a batch but before its ack: the resend is answered duplicate', async () => {
    const state = newState()
    let drops = 2
    const n = await node({ state, dropBeforeAck: () => drops-- > 0 })
    const dir = mkdtempSync(join(tmpdir(), 'pc-spool-'))
    const c = client(n, { spoolDir: dir })
    await c.start()
    const r = await Promise.all(Array.from({ length: 10 }, (_, i) => c.submit(utf8(`r${i}`))))
    expect(r.some((x) => x.status === 'duplicate')).toBe(true)
    expect(state.accepted).toHaveLength(10)
    expect(new Set(state.accepted).size).toBe(10)
  })

  it('seq continues from max(spool, welcome.nextSeq)', async () => {
    const state = newState()
    state.maxSeq.set(toHex(key(3).publicKey), 41)
    const n = await node({ state })
    const c = client(n, { deviceKey: key(3) })
    await c.start()
    expect((await c.submit(utf8('x'))).seq).toBe(42)
  })

  it('spool full: a typed error, nothing signed', async () => {
    const n = await node()
    await n.stop()
    const dir = mkdtempSync(join(tmpdir(), 'pc-spool-'))
    const c = client(n, { spoolDir: dir, maxSpoolBytes: 4096, firstSeq: 0 })
    await c.start()
    await c.queue(new Uint8Array(1500))
    await c.queue(new Uint8Array(1500))
    await expect(c.queue(new Uint8Array(1500))).rejects.toMatchObject({ code: 'ERR_SPOOL_FULL' })
    expect(c.pending).toBe(2)
  })

  it('tier 2: the chain sees ciphertext; the record key opens it', async () => {
    const n = await node()
    const dataKey = new Uint8Array(32).fill(7)
    const c = client(n, { deviceKey: key(4), dataKey, epoch: 3 })
    await c.start()
    const q = await c.queue(utf8('secret reading'))
    await q.acked
    const stored = n.state.txs.get(q.txId)
    if (!stored) throw new Error('not stored')
    expect(Buffer.from(stored.payload).includes(Buffer.from('secret'))).toBe(false)
    expect(stored.body.metadata.tier2).toBe('aes-256-gcm-hkdf-sha256/1')
    expect(stored.body.metadata['tier2.epoch']).toBe('3')
    expect(Buffer.from(openTier2Tx(q.recordKey as Uint8Array, stored)).toString()).toBe('secret reading')
  })

  it('runs on the pure-JS crypto backend (what a browser or device runtime installs)', async () => {
    const n = await node({ receipts: true })
    const before = getCrypto()
    setCrypto(createNobleBackend())
    try {
      const c = client(n, { deviceKey: key(5), dataKey: new Uint8Array(32).fill(1) })
      const got: string[] = []
      c.on('receipt', (r) => got.push(r.txId))
      await c.start()
      const q = await c.queue(utf8('pure js'))
      await q.acked
      await until(() => got.includes(q.txId), 'receipt verified with noble')
      expect(getCrypto().name).toBe('noble')
      setCrypto(before)
      expect(verifyTxSignature(q.tx)).toBe(true)
      expect(Buffer.from(openTier2Tx(q.recordKey as Uint8Array, q.tx)).toString()).toBe('pure js')
    } finally {
      setCrypto(before)
    }
  })
})
