// The device ingest API end to end: a real node in-process (LevelDB on disk, producer, API), real TLS sockets,
// and a raw client written with core's frame codec (docs/ingest-protocol.md). Hostile clients are refused with
// their code while a well-behaved client keeps going.
import { createHash, X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { createGenesis, serializeGenesis } from '@profichain/consensus'
import {
  type AckEntry,
  type CborValue,
  createTransaction,
  decodeCbor,
  type DecodedIngestFrame,
  decodeFrameBody,
  encodeCbor,
  encodeFrame,
  encodeTransaction,
  FrameReader,
  fromHex,
  generateKeyPair,
  INGEST_ALPN,
  type IngestFrame,
  type KeyPair,
  sealTier2,
  signHello,
  toHex,
  type Transaction,
  txIdHex,
  utf8,
  verifyChainpointReceipt,
  withLengthPrefix,
  writeKeyFile,
} from '@profichain/core'
import { parseConfig, ProfichainNode } from '@profichain/node'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decryptFile } from '@profichain/cli'
import { cli, gql } from './helpers.js'

const NETWORK = 'ingesttest'
const TOKEN = 'ingest-api-test-token-0123456789'

async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** A raw protocol client: TLS with the pinned fingerprint, frames in a queue. */
class RawClient {
  readonly frames: DecodedIngestFrame[] = []
  private readonly waiters: Array<() => void> = []
  closed = false
  serverHello?: Extract<DecodedIngestFrame, { type: 'server-hello' }>

  private constructor(readonly socket: TLSSocket) {
    const reader = new FrameReader(64 * 1024 * 1024)
    socket.on('data', (chunk: Buffer) => {
      for (const body of reader.push(new Uint8Array(chunk))) this.frames.push(decodeFrameBody(body, { maxBatch: 1e6 }))
      this.wake()
    })
    socket.on('close', () => {
      this.closed = true
      this.wake()
    })
    socket.on('error', () => {})
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w()
  }

  static async connect(port: number, fingerprint: string): Promise<RawClient> {
    const socket = tlsConnect({ host: '127.0.0.1', port, ALPNProtocols: [INGEST_ALPN], rejectUnauthorized: false, minVersion: 'TLSv1.3' })
    await new Promise<void>((res, rej) => {
      socket.once('secureConnect', () => res())
      socket.once('error', rej)
    })
    // Pin before sending anything.
    const der = socket.getPeerX509Certificate()?.raw
    if (!der || createHash('sha256').update(der).digest('hex') !== fingerprint) {
      socket.destroy()
      throw new Error('certificate fingerprint mismatch')
    }
    const c = new RawClient(socket)
    const sh = await c.next()
    if (sh.type !== 'server-hello') throw new Error(`expected server-hello, got ${sh.type}`)
    c.serverHello = sh
    return c
  }

  /** The next frame (in order); throws if the connection closes first. */
  async next(timeoutMs = 20_000): Promise<DecodedIngestFrame> {
    const deadline = Date.now() + timeoutMs
    while (this.frames.length === 0) {
      if (this.closed) throw new Error('connection closed')
      if (Date.now() > deadline) throw new Error('timed out waiting for a frame')
      await new Promise<void>((r) => {
        this.waiters.push(r)
        setTimeout(r, 200)
      })
    }
    return this.frames.shift() as DecodedIngestFrame
  }

  send(f: IngestFrame): void {
    this.socket.write(encodeFrame(f))
  }

  async hello(key: KeyPair, fingerprint: string): Promise<Extract<DecodedIngestFrame, { type: 'welcome' }>> {
    const sh = this.serverHello as NonNullable<RawClient['serverHello']>
    this.send({ type: 'hello', publicKey: key.publicKey, signature: signHello(key.seed, sh.challenge, fromHex(fingerprint), sh.network) })
    const w = await this.next()
    if (w.type !== 'welcome') throw new Error(`expected welcome, got ${JSON.stringify(w)}`)
    return w
  }

  /** Next frame of a type, collecting receipts that arrive meanwhile. */
  async nextOf<T extends DecodedIngestFrame['type']>(type: T, receipts?: Array<Extract<DecodedIngestFrame, { type: 'receipt' }>>): Promise<Extract<DecodedIngestFrame, { type: T }>> {
    for (;;) {
      const f = await this.next()
      if (f.type === type) return f as Extract<DecodedIngestFrame, { type: T }>
      if (f.type === 'receipt' && receipts) receipts.push(f)
      else if (f.type !== 'receipt') throw new Error(`expected ${type}, got ${JSON.stringify(f).slice(0, 300)}`)
    }
  }

  /** Close after what was written is flushed. */
  close(): void {
    this.socket.end()
    setTimeout(() => this.socket.destroy(), 2000).unref()
  }
}

let dir: string
let node: ProfichainNode
let port: number
let apiUrl: string
let fingerprint: string
const deviceA = generateKeyPair()
const deviceB = generateKeyPair()
const deviceC = generateKeyPair()
const stranger = generateKeyPair()
const revokedDevice = generateKeyPair()
const deviceD = generateKeyPair()
const refused: Array<{ code: string; publicKey?: string }> = []

const mkTx = (key: KeyPair, seq: number, payload = utf8(`reading ${seq} of ${toHex(key.publicKey).slice(0, 8)}`)) =>
  createTransaction(key, { network: NETWORK, seq, timestamp: 1_700_000_000_000 + seq, payload, metadata: { 'content-type': 'text/plain' } })

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-ingest-api-'))
  const nodeKey = generateKeyPair()
  const genesis = createGenesis({
    network: NETWORK,
    validators: [nodeKey],
    blockTimeMs: 150,
    maxTxBytes: 64 * 1024,
  })
  await writeFile(join(dir, 'genesis.json'), serializeGenesis(genesis))
  await writeKeyFile(join(dir, 'node.key'), nodeKey)
  const config = parseConfig(
    {
      type: 'producer',
      modules: { ingest: false, network: false, api: true, ingest_api: true },
      api: { port: 0, token: TOKEN },
      ingest_api: {
        port: 0,
        max_unauthenticated: 300,
        max_frame_bytes: 256 * 1024,
        max_batch: 256,
        hello_timeout_ms: 2000,
        write_buffer_bytes: 64 * 1024,
        slow_reader_ms: 1500,
        rate_per_device: 20,
        max_unregistered: 2,
        max_connections_per_device: 3,
        burst_per_device: 600,
      },
      processing: { threads: 0 },
    },
    dir,
  )
  node = new ProfichainNode({ config, logger: pino({ level: 'silent' }) })
  await node.start()
  const api = node.ingestApi
  if (!api) throw new Error('ingest API not started')
  port = (api.address() as { port: number }).port
  fingerprint = api.certificate()?.fingerprintHex as string
  api.server()?.on('refused', (r) => refused.push(r))
  apiUrl = (node.api?.address() as { url: string }).url
  // The devices are registered by the node (a member) through the API, as `profichain device add` does.
  for (const [i, k] of [deviceA, deviceB, deviceC, revokedDevice, deviceD].entries()) await graphql(`mutation { registerDevice(deviceId: "device-${i}", publicKey: "${toHex(k.publicKey)}") { txId } }`)
  await waitFor('devices registered', () => [deviceA, deviceB, deviceC, revokedDevice, deviceD].every((k) => node.tree.devices.get(toHex(k.publicKey))))
  await graphql(`mutation { revokeDevice(publicKey: "${toHex(revokedDevice.publicKey)}", reason: "test") { txId } }`)
  await waitFor('device revoked', () => node.tree.devices.get(toHex(revokedDevice.publicKey))?.revoked)
}, 60_000)

const graphql = (query: string) => gql<unknown>(apiUrl, query, {}, { token: TOKEN })

afterAll(async () => {
  await node?.stop()
  await rm(dir, { recursive: true, force: true })
})

/** Whether every txId is durable at this instant: in the outbox or in the chain. */
async function durable(ids: string[]): Promise<boolean> {
  const inOutbox = new Set((await node.tree.outbox.uncommitted()).map(txIdHex))
  const inChain = await node.tree.getTxs(ids)
  return ids.every((id, i) => inOutbox.has(id) || inChain[i] !== undefined)
}

/** A well-behaved device: hello, then batches acked accepted and receipts that verify; returns txIds. */
async function wellBehaved(key: KeyPair, firstSeq: number, batches: number, perBatch: number): Promise<string[]> {
  const c = await RawClient.connect(port, fingerprint)
  try {
    await c.hello(key, fingerprint)
    const receipts: Array<Extract<DecodedIngestFrame, { type: 'receipt' }>> = []
    const all: Transaction[] = []
    for (let b = 0; b < batches; b++) {
      const txs = Array.from({ length: perBatch }, (_, i) => mkTx(key, firstSeq + b * perBatch + i))
      all.push(...txs)
      c.send({ type: 'submit', batchId: b, txs })
      const ack = await c.nextOf('ack', receipts)
      expect(ack.batchId).toBe(b)
      expect(ack.results.map((r) => r.status)).toEqual(txs.map(() => 'accepted'))
      expect(ack.results.map((r) => toHex(r.txId))).toEqual(txs.map(txIdHex))
    }
    const ids = all.map(txIdHex)
    const byId = new Map(all.map((t) => [txIdHex(t), t]))
    // (receipts still owed for this device's earlier records may come too: only ours are counted)
    const mine = () => receipts.filter((r) => byId.has(toHex(r.txId)))
    while (mine().length < all.length) receipts.push(await c.nextOf('receipt'))
    for (const r of mine()) {
      const tx = byId.get(toHex(r.txId)) as Transaction
      const v = verifyChainpointReceipt(JSON.parse(r.chainpoint), { payload: tx.payload })
      expect(v.txId).toBe(toHex(r.txId))
      expect(v.blockHash).toBe(toHex(r.blockHash))
    }
    c.send({ type: 'receipt-ack', txIds: receipts.map((r) => r.txId) })
    return ids
  } finally {
    c.close()
  }
}

describe('ingest API over TLS', () => {
  it('acks only durable records, commits them, pushes verifiable receipts; a resend is duplicate', async () => {
    const c = await RawClient.connect(port, fingerprint)
    expect(c.socket.getProtocol()).toBe('TLSv1.3')
    expect(c.socket.alpnProtocol).toBe(INGEST_ALPN)
    expect(c.serverHello?.network).toBe(NETWORK)
    const w = await c.hello(deviceA, fingerprint)
    expect(w).toMatchObject({ registered: true, deviceId: 'device-0', nextSeq: 0 })
    const txs = Array.from({ length: 20 }, (_, i) => mkTx(deviceA, i))
    c.send({ type: 'submit', batchId: 7, txs })
    const receipts: Array<Extract<DecodedIngestFrame, { type: 'receipt' }>> = []
    const ack = await c.nextOf('ack', receipts)
    // At the moment the ack arrives every accepted record is in the outbox or the chain.
    expect(await durable(txs.map(txIdHex))).toBe(true)
    expect(ack.results.map((r) => r.status)).toEqual(txs.map(() => 'accepted'))
    while (receipts.length < txs.length) receipts.push(await c.nextOf('receipt'))
    expect(new Set(receipts.map((r) => toHex(r.txId)))).toEqual(new Set(txs.map(txIdHex)))
    for (const r of receipts) {
      const tx = txs.find((t) => txIdHex(t) === toHex(r.txId)) as Transaction
      expect(verifyChainpointReceipt(JSON.parse(r.chainpoint), { payload: tx.payload }).height).toBe(r.height)
      expect((await node.tree.getTx(r.txId))?.height).toBe(r.height)
    }
    c.send({ type: 'receipt-ack', txIds: receipts.map((r) => r.txId) })
    // The node keeps the payloads of the device records it accepted (as of its own), e.g. for GET /tx/<id>/payload.
    await waitFor('payload kept', () => node.tree.hasPayload(txIdHex(txs[0])))
    const res = await fetch(`${apiUrl}/tx/${txIdHex(txs[0])}/payload`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(res.status).toBe(200)
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(txs[0].payload)
    // Resending the same batch is idempotent.
    c.send({ type: 'submit', batchId: 8, txs })
    const again = await c.nextOf('ack')
    expect(again.results.map((r) => r.status)).toEqual(txs.map(() => 'duplicate'))
    c.close()
    // A new connection learns where to continue.
    const c2 = await RawClient.connect(port, fingerprint)
    expect((await c2.hello(deviceA, fingerprint)).nextSeq).toBe(20)
    c2.close()
  })

  it('receipts of records committed while the device was away are pushed after its next hello, until receipt-acked', async () => {
    const c = await RawClient.connect(port, fingerprint)
    await c.hello(deviceB, fingerprint)
    const txs = [mkTx(deviceB, 0), mkTx(deviceB, 1)]
    c.send({ type: 'submit', batchId: 1, txs })
    expect((await c.nextOf('ack')).results.map((r) => r.status)).toEqual(['accepted', 'accepted'])
    c.close()
    await waitFor('committed', async () => (await node.tree.getTxs(txs.map(txIdHex))).every((l) => l !== undefined))
    const c2 = await RawClient.connect(port, fingerprint)
    await c2.hello(deviceB, fingerprint)
    const got = [await c2.nextOf('receipt'), await c2.nextOf('receipt')]
    expect(new Set(got.map((r) => toHex(r.txId)))).toEqual(new Set(txs.map(txIdHex)))
    c2.send({ type: 'receipt-ack', txIds: got.map((r) => r.txId) })
    // Frames are answered in order: the ack of this submit comes after the receipt-ack was applied.
    c2.send({ type: 'submit', batchId: 2, txs: [mkTx(deviceB, 2)] })
    await c2.nextOf('ack')
    c2.close()
    // Next hello: nothing owed any more, so the first frame after the welcome is the ack of a new submit.
    const c3 = await RawClient.connect(port, fingerprint)
    await c3.hello(deviceB, fingerprint)
    c3.send({ type: 'submit', batchId: 3, txs: [mkTx(deviceB, 0)] })
    const f = await c3.next()
    // (the receipt of seq 2 may be owed by now if it committed meanwhile; the two acked ones are not)
    const frames = [f]
    while (frames[frames.length - 1].type !== 'ack') frames.push(await c3.next())
    for (const x of frames) if (x.type === 'receipt') expect(txs.map(txIdHex)).not.toContain(toHex(x.txId))
    c3.close()
  })

  it('refuses each hostile case with its code while a well-behaved device keeps going', async () => {
    const good = wellBehaved(deviceC, 0, 10, 20)

    // A captured hello replayed on a new connection (new challenge): BAD_SIGNATURE.
    const victim = await RawClient.connect(port, fingerprint)
    const sh = victim.serverHello as NonNullable<RawClient['serverHello']>
    const captured = encodeFrame({ type: 'hello', publicKey: deviceA.publicKey, signature: signHello(deviceA.seed, sh.challenge, fromHex(fingerprint), NETWORK) })
    victim.close()
    const replay = await RawClient.connect(port, fingerprint)
    replay.socket.write(captured)
    expect(await replay.next()).toMatchObject({ type: 'error', code: 'BAD_SIGNATURE' })

    // A hello signed over another challenge / another server's certificate: BAD_SIGNATURE.
    const wrong = await RawClient.connect(port, fingerprint)
    wrong.send({ type: 'hello', publicKey: deviceA.publicKey, signature: signHello(deviceA.seed, new Uint8Array(32), fromHex(fingerprint), NETWORK) })
    expect(await wrong.next()).toMatchObject({ type: 'error', code: 'BAD_SIGNATURE' })
    const other = await RawClient.connect(port, fingerprint)
    const osh = other.serverHello as NonNullable<RawClient['serverHello']>
    other.send({ type: 'hello', publicKey: deviceA.publicKey, signature: signHello(deviceA.seed, osh.challenge, new Uint8Array(32).fill(1), NETWORK) })
    expect(await other.next()).toMatchObject({ type: 'error', code: 'BAD_SIGNATURE' })

    // Anything but a hello first: BAD_HELLO.
    const rude = await RawClient.connect(port, fingerprint)
    rude.send({ type: 'receipt-ack', txIds: [] })
    expect(await rude.next()).toMatchObject({ type: 'error', code: 'BAD_HELLO' })

    // An unknown key: welcome unregistered, its records refused UNKNOWN_DEVICE.
    const unknown = await RawClient.connect(port, fingerprint)
    expect(await unknown.hello(stranger, fingerprint)).toMatchObject({ registered: false, deviceId: '' })
    unknown.send({ type: 'submit', batchId: 1, txs: [mkTx(stranger, 0)] })
    expect((await unknown.nextOf('ack')).results).toMatchObject([{ status: 'rejected', code: 'UNKNOWN_DEVICE' }])
    unknown.close()

    // A revoked device key: refused at the hello.
    const revoked = await RawClient.connect(port, fingerprint)
    const rsh = revoked.serverHello as NonNullable<RawClient['serverHello']>
    revoked.send({ type: 'hello', publicKey: revokedDevice.publicKey, signature: signHello(revokedDevice.seed, rsh.challenge, fromHex(fingerprint), NETWORK) })
    expect(await revoked.next()).toMatchObject({ type: 'error', code: 'REVOKED' })

    // Per-tx refusals in one batch; the good txs of the batch are accepted.
    const mixed = await RawClient.connect(port, fingerprint)
    await mixed.hello(deviceA, fingerprint)
    const ok1 = mkTx(deviceA, 100)
    const ok2 = mkTx(deviceA, 101)
    const foreign = mkTx(deviceB, 100)
    const tamperedPayload = { ...mkTx(deviceA, 102), payload: utf8('changed after signing') }
    const base = mkTx(deviceA, 103)
    const badSig = { ...base, signature: base.signature.map((b, i) => (i === 0 ? b ^ 1 : b)) }
    const otherNet = createTransaction(deviceA, { network: 'elsewhere', seq: 104, payload: utf8('x') })
    const huge = mkTx(deviceA, 105, new Uint8Array(64 * 1024 + 1))
    // Another tx with the seq of ok1: a replay (the same tx again would be a duplicate).
    const replayed = mkTx(deviceA, 100, utf8('another reading, same seq'))
    const bodies: CborValue[] = [ok1, foreign, tamperedPayload, badSig, otherNet, huge, ok2, replayed, ok1].map((t) => {
      const enc = encodeTransaction({ body: t.body, signature: t.signature, payload: t.payload })
      return decodeCbor(enc)
    })
    bodies.splice(3, 0, 'not a tx')
    mixed.socket.write(withLengthPrefix(encodeCbor([1, 3, 5, bodies])))
    const ack = await mixed.nextOf('ack')
    expect(ack.results.map((r: AckEntry) => (r.status === 'rejected' ? r.code : r.status))).toEqual([
      'accepted',
      'WRONG_ORIGIN',
      'BAD_TX',
      'BAD_TX',
      'BAD_SIGNATURE',
      'WRONG_NETWORK',
      'TX_TOO_LARGE',
      'accepted',
      'REPLAY',
      'duplicate',
    ])
    expect(toHex(ack.results[3].txId)).toBe('00'.repeat(32))

    // An oversized frame: refused from its length prefix alone (no body sent), then closed.
    const maxFrame = (mixed.serverHello as NonNullable<RawClient['serverHello']>).limits.maxFrameBytes
    const prefix = new Uint8Array(4)
    new DataView(prefix.buffer).setUint32(0, maxFrame + 1)
    mixed.socket.write(prefix)
    expect(await mixed.nextOf('error')).toMatchObject({ code: 'FRAME_TOO_LARGE' })
    await waitFor('closed', () => mixed.closed)

    expect((await good).length).toBe(200)
    for (const code of ['BAD_SIGNATURE', 'BAD_HELLO', 'FRAME_TOO_LARGE', 'UNKNOWN_DEVICE', 'REVOKED', 'REPLAY', 'WRONG_ORIGIN', 'TX_TOO_LARGE']) {
      expect(refused.map((r) => r.code).concat(await rejectedCodes())).toContain(code)
    }
  })

  it('rate per device: txs beyond the bucket are refused alone (RATE_LIMITED) and accepted when resent later', async () => {
    const c = await RawClient.connect(port, fingerprint)
    await c.hello(deviceD, fingerprint)
    const txs = Array.from({ length: 768 }, (_, i) => mkTx(deviceD, i))
    // Three full batches pipelined: 768 txs against a burst of 600 at 20/s (other devices stay within the burst).
    for (let b = 0; b < 3; b++) c.send({ type: 'submit', batchId: b, txs: txs.slice(b * 256, (b + 1) * 256) })
    const results: AckEntry[] = []
    for (let b = 0; b < 3; b++) results.push(...(await c.nextOf('ack')).results)
    const limited = txs.filter((_, i) => results[i].status === 'rejected')
    expect(limited.length).toBeGreaterThan(0)
    expect(new Set(results.map((r) => (r.status === 'rejected' ? r.code : r.status)))).toEqual(new Set(['accepted', 'RATE_LIMITED']))
    // Resending refused ones (same txs: idempotent) gets them in as the bucket refills.
    let left = limited.slice(0, 10)
    let batch = 10
    await waitFor(
      'all accepted',
      async () => {
        c.send({ type: 'submit', batchId: batch++, txs: left })
        const ack = await c.nextOf('ack')
        left = left.filter((_, i) => ack.results[i].status === 'rejected')
        return left.length === 0
      },
      20_000,
    )
    c.close()
  })

  it('connection limits: per device, and for keys nobody registered', async () => {
    const open: RawClient[] = []
    try {
      for (let i = 0; i < 3; i++) {
        const c = await RawClient.connect(port, fingerprint)
        open.push(c)
        await c.hello(deviceD, fingerprint)
      }
      const fourth = await RawClient.connect(port, fingerprint)
      const sh = fourth.serverHello as NonNullable<RawClient['serverHello']>
      fourth.send({ type: 'hello', publicKey: deviceD.publicKey, signature: signHello(deviceD.seed, sh.challenge, fromHex(fingerprint), NETWORK) })
      expect(await fourth.next()).toMatchObject({ type: 'error', code: 'TOO_MANY_CONNECTIONS' })
      const keys = [generateKeyPair(), generateKeyPair(), generateKeyPair()]
      for (const k of keys.slice(0, 2)) {
        const c = await RawClient.connect(port, fingerprint)
        open.push(c)
        expect((await c.hello(k, fingerprint)).registered).toBe(false)
      }
      const third = await RawClient.connect(port, fingerprint)
      const tsh = third.serverHello as NonNullable<RawClient['serverHello']>
      third.send({ type: 'hello', publicKey: keys[2].publicKey, signature: signHello(keys[2].seed, tsh.challenge, fromHex(fingerprint), NETWORK) })
      expect(await third.next()).toMatchObject({ type: 'error', code: 'TOO_MANY_CONNECTIONS' })
      // A registered device still gets in.
      const c = await RawClient.connect(port, fingerprint)
      open.push(c)
      expect((await c.hello(deviceA, fingerprint)).registered).toBe(true)
    } finally {
      for (const c of open) c.close()
    }
  })

  it('500 idle connections: the unauthenticated limit holds, they time out, devices keep working', async () => {
    const srv = node.ingestApi?.server()
    if (!srv) throw new Error('no server')
    const good = wellBehaved(deviceC, 1000, 5, 10)
    const sockets: Socket[] = []
    const closed = new Set<Socket>()
    let maxUnauth = 0
    const watch = setInterval(() => (maxUnauth = Math.max(maxUnauth, srv.stats().unauthenticated)), 5)
    try {
      for (let i = 0; i < 500; i++) {
        const s = netConnect({ host: '127.0.0.1', port })
        s.on('error', () => {})
        s.on('close', () => closed.add(s))
        s.resume()
        sockets.push(s)
      }
      await waitFor('all idle sockets connected or refused', () => sockets.every((s) => !s.connecting))
      expect((await good).length).toBe(50)
      // Past the hello timeout every idle socket is gone; the limit held meanwhile.
      await waitFor('idle sockets dropped', () => closed.size === sockets.length, 15_000)
      expect(maxUnauth).toBeLessThanOrEqual(300)
      expect(refused.filter((r) => r.code === 'TOO_MANY_CONNECTIONS').length).toBeGreaterThan(0)
      await waitFor('server sees no idle sockets', () => srv.stats().unauthenticated === 0)
    } finally {
      clearInterval(watch)
      for (const s of sockets) s.destroy()
    }
    // And a new device connects as usual.
    const c = await RawClient.connect(port, fingerprint)
    expect((await c.hello(deviceC, fingerprint)).registered).toBe(true)
    c.close()
  })

  it('a client that stops reading is paused, then dropped; others are not affected', async () => {
    const srv = node.ingestApi?.server()
    if (!srv) throw new Error('no server')
    const good = wellBehaved(deviceC, 2000, 5, 10)
    const slow = await RawClient.connect(port, fingerprint)
    await slow.hello(deviceA, fingerprint)
    // Stop reading, and keep sending submits whose acks are 40x larger than the request (junk txs).
    slow.socket.pause()
    slow.socket.removeAllListeners('data')
    const junk = withLengthPrefix(encodeCbor([1, 3, 1, Array.from({ length: 256 }, () => 0)]))
    const before = refused.filter((r) => r.code === 'SLOW_READER').length
    let writes = 0
    while (!slow.socket.destroyed && writes < 20_000) {
      if (!slow.socket.write(junk)) await new Promise((r) => setTimeout(r, 10))
      writes++
      if (writes % 100 === 0) {
        expect(srv.stats().queuedBytes).toBeLessThan(64 * 1024 * 1024)
        await new Promise((r) => setImmediate(r))
      }
      if (refused.filter((r) => r.code === 'SLOW_READER').length > before) break
    }
    await waitFor('slow reader dropped', () => refused.filter((r) => r.code === 'SLOW_READER').length > before, 20_000)
    expect((await good).length).toBe(50)
    slow.close()
    // What the dropped client had queued is released (nothing held for a gone connection).
    await waitFor('queue released', () => srv.stats().queuedBytes === 0)
  })
})

describe('certificate', () => {
  it('init makes it (key 0600) and prints its fingerprint; status reports the running one', async () => {
    const st = (await graphql('{ status { ingestFingerprint ingestAddress } }')) as { status: { ingestFingerprint: string; ingestAddress: string } }
    expect(st.status).toEqual({ ingestFingerprint: fingerprint, ingestAddress: `127.0.0.1:${port}` })
    const d = join(dir, 'fresh')
    const r = await cli(['init', '--type', 'full', '--data-dir', d])
    expect(r.code).toBe(0)
    const der = new X509Certificate(await readFile(join(d, 'ingest-api', 'cert.pem'))).raw
    const fp = createHash('sha256').update(der).digest('hex')
    expect(r.stdout).toContain(`fingerprint ${fp}`)
    expect((await stat(join(d, 'ingest-api', 'key.pem'))).mode & 0o777).toBe(0o600)
    // TLS 1.2 only, or no ALPN: no session.
    const old = tlsConnect({ host: '127.0.0.1', port, maxVersion: 'TLSv1.2', ALPNProtocols: [INGEST_ALPN], rejectUnauthorized: false })
    await expect(new Promise((res, rej) => old.once('secureConnect', res).once('error', rej))).rejects.toThrow()
    const noAlpn = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false })
    noAlpn.on('error', () => {})
    const closed = await new Promise<boolean>((res) => {
      noAlpn.once('secureConnect', () => noAlpn.once('close', () => res(true)).resume())
      noAlpn.once('close', () => res(true))
    })
    expect(closed).toBe(true)
  })
})

describe('tier 2 and profichain decrypt', () => {
  it('decrypts a committed tier-2 record with its released key; refuses another key, a tampered ciphertext or payload', async () => {
    const dataKey = new Uint8Array(32).fill(0x5a)
    const seal = (seq: number, text: string, tamper = false) => {
      const s = sealTier2({ dataKey, origin: deviceB.publicKey, epoch: 3, seq, plaintext: utf8(text) })
      const payload = new Uint8Array(s.payload)
      if (tamper) payload[20] ^= 1 // changed before signing: the chain accepts it, GCM will not
      const tx = createTransaction(deviceB, { network: NETWORK, seq, payload, metadata: { ...s.metadata, 'content-type': 'application/json' } })
      return { tx, key: toHex(s.recordKey) }
    }
    const a = seal(900, '{"temperature":21.5}')
    const b = seal(901, '{"temperature":22.0}')
    const bad = seal(902, '{"temperature":99.9}', true)
    const c = await RawClient.connect(port, fingerprint)
    await c.hello(deviceB, fingerprint)
    c.send({ type: 'submit', batchId: 1, txs: [a.tx, b.tx, bad.tx] })
    const receipts: Array<Extract<DecodedIngestFrame, { type: 'receipt' }>> = []
    expect((await c.nextOf('ack', receipts)).results.map((r) => r.status)).toEqual(['accepted', 'accepted', 'accepted'])
    const ids = [a.tx, b.tx, bad.tx].map(txIdHex)
    while (receipts.filter((r) => ids.includes(toHex(r.txId))).length < 3) receipts.push(await c.nextOf('receipt'))
    c.close()
    const receiptOf = (tx: Transaction) => (receipts.find((r) => toHex(r.txId) === txIdHex(tx)) as { chainpoint: string }).chainpoint
    const files = async (name: string, tx: Transaction) => {
      await writeFile(join(dir, `${name}.cbor`), encodeTransaction(tx))
      await writeFile(join(dir, `${name}.chp.json`), receiptOf(tx))
      return [join(dir, `${name}.cbor`), '--receipt', join(dir, `${name}.chp.json`)]
    }
    const fa = await files('a', a.tx)
    const ok = await cli(['decrypt', ...fa, '--key', a.key, '--api', apiUrl, '--token', TOKEN])
    expect(ok.stderr).toContain('key commitment')
    expect(ok.code).toBe(0)
    expect(ok.stdout).toBe('{"temperature":21.5}')
    // The refusals through the command's own function (each CLI start costs seconds on a loaded machine).
    const run = (f: string[], key: string, out?: string) => decryptFile(f[0], { key, receipt: f[2], out })
    // The key of record b opens b only.
    const wrongKey = await run(fa, b.key)
    expect(wrongKey.ok).toBe(false)
    expect(wrongKey.lines.join('\n')).toContain('ERR_TIER2_COMMITMENT')
    // A ciphertext tampered before signing: committed, receipt valid, but GCM refuses it.
    const fbad = await files('bad', bad.tx)
    const tampered = await run(fbad, bad.key, join(dir, 'bad.out'))
    expect(tampered.ok).toBe(false)
    expect(tampered.lines.join('\n')).toContain('ERR_TIER2_DECRYPT')
    // The payload alone (the ciphertext, as an archive serves it) works as FILE too.
    await writeFile(join(dir, 'b.payload'), b.tx.payload)
    await writeFile(join(dir, 'b.chp.json'), receiptOf(b.tx))
    const plain = await decryptFile(join(dir, 'b.payload'), { key: b.key, receipt: join(dir, 'b.chp.json'), out: join(dir, 'b.out') })
    expect(plain.ok).toBe(true)
    expect(await readFile(join(dir, 'b.out'), 'utf8')).toBe('{"temperature":22.0}')
    // A payload changed after the receipt: the receipt check fails first.
    await writeFile(join(dir, 'a.cbor'), encodeTransaction({ ...a.tx, payload: a.tx.payload.map((x, i) => (i === 30 ? x ^ 1 : x)) }))
    const changed = await cli(['decrypt', ...fa, '--key', a.key])
    expect(changed.code).toBe(1)
    expect(changed.stderr).toContain('ERR_RECEIPT_PAYLOAD')
  })
})

describe('POST /v1/records', () => {
  const post = (body: Uint8Array | string, headers: Record<string, string> = {}) =>
    fetch(`${apiUrl}/v1/records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/cbor', ...headers },
      body: typeof body === 'string' ? body : Buffer.from(body),
    })

  it('answers a CBOR submit with the CBOR ack, durable and per tx', async () => {
    const txs = [mkTx(deviceA, 500), mkTx(deviceB, 500), mkTx(stranger, 500)]
    const res = await post(encodeCbor([1, 3, 42, txs.map((t) => decodeCbor(encodeTransaction(t)))]))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/cbor')
    const ack = decodeFrameBody(new Uint8Array(await res.arrayBuffer()))
    if (ack.type !== 'ack') throw new Error('expected an ack')
    expect(ack.batchId).toBe(42)
    expect(ack.results.map((r) => (r.status === 'rejected' ? r.code : r.status))).toEqual(['accepted', 'accepted', 'UNKNOWN_DEVICE'])
    expect(await durable(txs.slice(0, 2).map(txIdHex))).toBe(true)
    await waitFor('committed', async () => (await node.tree.getTxs(txs.slice(0, 2).map(txIdHex))).every((l) => l !== undefined))
    // Resend: duplicate.
    const again = decodeFrameBody(new Uint8Array(await (await post(encodeCbor([1, 3, 43, txs.slice(0, 1).map((t) => decodeCbor(encodeTransaction(t)))]))).arrayBuffer()))
    expect(again).toMatchObject({ type: 'ack', results: [{ status: 'duplicate' }] })
  })

  it('refuses without a token, another content type, malformed and oversized bodies', async () => {
    const noToken = await fetch(`${apiUrl}/v1/records`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: 'x' })
    expect(noToken.status).toBe(401)
    expect((await post('{}', { 'content-type': 'application/json' })).status).toBe(415)
    const bad = await post(Uint8Array.of(0xff, 0x00))
    expect(bad.status).toBe(400)
    expect(decodeFrameBody(new Uint8Array(await bad.arrayBuffer()))).toMatchObject({ type: 'error', code: 'BAD_FRAME' })
    const big = await post(new Uint8Array(256 * 1024 + 1))
    expect(big.status).toBe(413)
    expect(decodeFrameBody(new Uint8Array(await big.arrayBuffer()))).toMatchObject({ type: 'error', code: 'FRAME_TOO_LARGE' })
    const get = await fetch(`${apiUrl}/v1/records`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(get.status).toBe(405)
  })
})

/** Codes counted by profichain_ingest_api_rejected_total. */
async function rejectedCodes(): Promise<string[]> {
  const m = await node.metrics.registry.getSingleMetric('profichain_ingest_api_rejected_total')?.get()
  return (m?.values ?? []).filter((v) => v.value > 0).map((v) => String(v.labels.code))
}
