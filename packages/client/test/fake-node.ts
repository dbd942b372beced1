import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type Server, type TLSSocket } from 'node:tls'
import {
  auditPathFromLevels,
  blockHash,
  blockLeaves,
  buildChainpointReceipt,
  type CborValue,
  createBlock,
  decodeCbor,
  decodeTransaction,
  FrameReader,
  helloMessage,
  INGEST_ALPN,
  encodeCbor,
  getCrypto,
  keyPairFromSeed,
  merkleLevels,
  read,
  toHex,
  type Transaction,
  txId,
  verifyTxSignature,
} from '@profichain/core'

/**
 * A minimal in-test ingest server speaking the v1 frames over real TLS (a self-signed certificate made
 * by openssl): enough to drive the client — hello check, per-tx acks with duplicates, receipts built by
 * core over a one-block "chain", receipt-acks recorded. Its store survives restarts (pass `state`).
 */
export interface FakeState {
  /** txId hex → tx, the "durable outbox". */
  txs: Map<string, Transaction>
  /** Order in which txs were accepted (a tx accepted twice would show up twice). */
  accepted: string[]
  /** txIds the clients acknowledged receipts for. */
  receiptAcked: Set<string>
  /** Highest seq per origin hex. */
  maxSeq: Map<string, number>
  /** receipt-ack entries received, repeats included. */
  receiptAckCount: number
}

export function newState(): FakeState {
  return { txs: new Map(), accepted: [], receiptAcked: new Set(), maxSeq: new Map(), receiptAckCount: 0 }
}

export interface FakeNodeInit {
  network?: string
  state?: FakeState
  maxBatch?: number
  maxInFlight?: number
  /** Advertised frame limit (default 4 MiB). */
  maxFrameBytes?: number
  /** Push a receipt for every accepted tx right after its ack. */
  receipts?: boolean
  /** Close the first connection with error IDLE_TIMEOUT right after its welcome. */
  idleFirst?: boolean
  /** Push every receipt twice in a row (as a node does with an owed and a fresh push). */
  pushTwice?: boolean
  /** Change a receipt before it is pushed (tamper tests). */
  mangleReceipt?: (chainpoint: string, tx: Transaction) => string
  /** Decide the ack of one tx: return a code to reject it. */
  reject?: (tx: Transaction) => string | undefined
  /** Called after a batch is stored and before its ack is sent: return true to cut the connection instead. */
  dropBeforeAck?: (batchId: number) => boolean
}

const PRODUCER = keyPairFromSeed(new Uint8Array(32).fill(9))
let certCache: { key: string; cert: string; fingerprint: string } | undefined

export function testCert(): { key: string; cert: string; fingerprint: string } {
  if (certCache) return certCache
  const dir = mkdtempSync(join(tmpdir(), 'pc-cert-'))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=profichain-test'], { stdio: 'ignore' })
  const cert = readFileSync(join(dir, 'cert.pem'), 'utf8')
  const der = Buffer.from(cert.replace(/-----[^-]+-----|\s/g, ''), 'base64')
  certCache = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert, fingerprint: createHash('sha256').update(der).digest('hex') }
  return certCache
}

function frame(v: CborValue): Uint8Array {
  const body = encodeCbor(v)
  const out = Buffer.alloc(4 + body.byteLength)
  out.writeUInt32BE(body.byteLength, 0)
  out.set(body, 4)
  return out
}

export class FakeNode {
  readonly state: FakeState
  readonly network: string
  readonly cert = testCert()
  server: Server | undefined
  port = 0
  /** Bytes received from clients that never passed a TLS handshake check (fingerprint tests). */
  bytesReceived = 0
  connections = new Set<TLSSocket>()
  /** Connections accepted since start. */
  connectionsTotal = 0
  private height = 0

  constructor(private readonly init: FakeNodeInit = {}) {
    this.state = init.state ?? newState()
    this.network = init.network ?? 'client-test'
  }

  async start(port = 0): Promise<number> {
    this.server = createServer({ key: this.cert.key, cert: this.cert.cert, minVersion: 'TLSv1.3', ALPNProtocols: [INGEST_ALPN] }, (s) => this.onConnection(s))
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve))
    this.port = (this.server.address() as { port: number }).port
    return this.port
  }

  /** Stop abruptly (a crash as a client sees it): every connection is destroyed. */
  async stop(): Promise<void> {
    for (const s of this.connections) s.destroy()
    await new Promise<void>((resolve) => this.server?.close(() => resolve()))
  }

  private onConnection(s: TLSSocket): void {
    this.connections.add(s)
    const nth = ++this.connectionsTotal
    s.on('close', () => this.connections.delete(s))
    s.on('error', () => {})
    const challenge = randomBytes(32)
    const fp = Buffer.from(this.cert.fingerprint, 'hex')
    let device: Uint8Array | undefined
    const reader = new FrameReader(4 * 1024 * 1024)
    s.write(frame([1, 0, challenge, this.network, { maxFrameBytes: this.init.maxFrameBytes ?? 4 * 1024 * 1024, maxBatch: this.init.maxBatch ?? 64, maxInFlight: this.init.maxInFlight ?? 4 }]))
    s.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.byteLength
      for (const body of reader.push(chunk)) {
        const v = decodeCbor(body, 'frame') as CborValue[]
        if (v[1] === 1) {
          const pub = read.bytes(v[2], 'pub', 32)
          if (!getCrypto().verify(pub, helloMessage(challenge, fp, this.network), read.bytes(v[3], 'sig', 64))) {
            s.end(frame([1, 6, 'BAD_HELLO', 'challenge signature does not verify']))
            return
          }
          device = pub
          const max = this.state.maxSeq.get(toHex(pub))
          s.write(frame([1, 2, { deviceId: toHex(pub).slice(0, 16), registered: true, nextSeq: max === undefined ? 0 : max + 1 }]))
          if (this.init.idleFirst && nth === 1) s.end(frame([1, 6, 'IDLE_TIMEOUT', 'idle for longer than the idle timeout']))
        } else if (v[1] === 3 && device) {
          this.onSubmit(s, device, v)
        } else if (v[1] === 7) {
          for (const id of v[2] as Uint8Array[]) {
            this.state.receiptAcked.add(toHex(id))
            this.state.receiptAckCount++
          }
        }
      }
    })
  }

  private onSubmit(s: TLSSocket, device: Uint8Array, v: CborValue[]): void {
    const batchId = v[2] as number
    const entries: CborValue[] = []
    const fresh: Transaction[] = []
    for (const t of v[3] as CborValue[]) {
      const tx = decodeTransaction(encodeCbor(t))
      const id = toHex(txId(tx))
      const code = !verifyTxSignature(tx) ? 'BAD_SIGNATURE' : toHex(tx.body.origin) !== toHex(device) ? 'WRONG_ORIGIN' : this.init.reject?.(tx)
      if (code) {
        entries.push([txId(tx), 2, code])
      } else if (this.state.txs.has(id)) {
        entries.push([txId(tx), 1, ''])
      } else {
        this.state.txs.set(id, tx)
        this.state.accepted.push(id)
        const o = toHex(tx.body.origin)
        this.state.maxSeq.set(o, Math.max(this.state.maxSeq.get(o) ?? -1, tx.body.seq))
        fresh.push(tx)
        entries.push([txId(tx), 0, ''])
      }
    }
    if (this.init.dropBeforeAck?.(batchId)) {
      s.destroy()
      return
    }
    s.write(frame([1, 4, batchId, entries]))
    if (this.init.receipts && fresh.length > 0) this.pushReceipts(s, fresh)
  }

  private pushReceipts(s: TLSSocket, txs: Transaction[]): void {
    const block = createBlock({ network: this.network, height: ++this.height, timestamp: Date.now(), prevHash: new Uint8Array(32), producer: PRODUCER.publicKey, txs })
    const levels = merkleLevels(blockLeaves(block.txs))
    const hash = blockHash(block.header)
    for (const [i, tx] of txs.entries()) {
      const cp = buildChainpointReceipt({ tx, header: block.header, leafIndex: i, auditPath: auditPathFromLevels(levels, i), anchorBase: 'http://127.0.0.1:1' })
      let text = JSON.stringify(cp)
      if (this.init.mangleReceipt) text = this.init.mangleReceipt(text, tx)
      s.write(frame([1, 5, txId(tx), block.header.height, hash, text]))
      if (this.init.pushTwice) s.write(frame([1, 5, txId(tx), block.header.height, hash, text]))
    }
  }
}

