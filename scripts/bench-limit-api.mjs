#!/usr/bin/env node
// The machine's limit for the ingest API (issue 14): only the unavoidable work per device record, in plain
// Node — receive it over TLS, SHA-256 it, verify its Ed25519 signature (worker threads, one per core), make
// it durable before the ack (appended to a file, one fdatasync per group of records, as the node's group
// commit), send the ack, then seal what was acked into a block (RFC 6962 Merkle tree of the ids, one Ed25519
// signature, appended and fdatasync'ed) and send each record's receipt (its id, index and audit path). No
// LevelDB, no indexes, no CBOR, no dedupe, no mempool: every ingest-API figure is stated as a share of this.
// The sender is a separate process that signs every record before the clock starts.
// Usage: node scripts/bench-limit-api.mjs [--records 20000] [--threads N] [--runs 3]
// As a module: `await apiLimit({ records, threads, runs })` → { perS (median records/s), runs: [...] }.
import { fork } from 'node:child_process'
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { isMainThread, parentPort } from 'node:worker_threads'
import { fsDatasync, fsWrite, median, merkleLevels, receipts, sha256, workerPool } from './limit/common.mjs'

const PAYLOAD_BYTES = 1024
const DEVICES = 20
const SIG = 64
/** Frame: u32 length ‖ u8 device ‖ u32 seq ‖ payload ‖ signature (over device ‖ seq ‖ payload). */
const HEAD = 4
const BODY = 1 + 4 + PAYLOAD_BYTES
const FRAME = HEAD + BODY + SIG
/** Records waiting for verification before the server stops reading (memory stays bounded). */
const MAX_PENDING = 8192
const BLOCK_MS = 250

// ---- worker: hash + verify a packed batch ------------------------------------------------------------
if (!isMainThread) {
  const keys = new Map()
  parentPort.on('message', ({ data, keysDer }) => {
    const bytes = new Uint8Array(data)
    const n = bytes.byteLength / (BODY + SIG)
    const ok = new Uint8Array(n)
    const ids = new Uint8Array(32 * n)
    for (let i = 0; i < n; i++) {
      const rec = bytes.subarray(i * (BODY + SIG), (i + 1) * (BODY + SIG))
      const dev = rec[0]
      let key = keys.get(dev)
      if (!key) keys.set(dev, (key = createPublicKey({ key: Buffer.from(keysDer[dev]), format: 'der', type: 'spki' })))
      if (verify(null, rec.subarray(0, BODY), key, rec.subarray(BODY))) ok[i] = 1
      ids.set(sha256(rec), 32 * i)
    }
    parentPort.postMessage({ ok, ids }, [ok.buffer, ids.buffer])
  })
}

// ---- sender (child process): sign everything first, then stream it and count acks and receipts ---------
async function sender({ port, records }) {
  const keys = Array.from({ length: DEVICES }, () => generateKeyPairSync('ed25519'))
  const frames = Buffer.alloc(FRAME * records)
  for (let i = 0; i < records; i++) {
    const f = frames.subarray(i * FRAME, (i + 1) * FRAME)
    f.writeUInt32BE(BODY + SIG, 0)
    f[HEAD] = i % DEVICES
    f.writeUInt32BE(i, HEAD + 1)
    f.fill(0x61 + (i % 26), HEAD + 5, HEAD + BODY)
    sign(null, f.subarray(HEAD, HEAD + BODY), keys[i % DEVICES].privateKey).copy(f, HEAD + BODY)
  }
  const keysDer = keys.map((k) => k.publicKey.export({ format: 'der', type: 'spki' }))
  // Pinning and chain checks happen once per connection, not per record: left out here.
  const sock = connect({ port, host: '127.0.0.1', rejectUnauthorized: false })
  await new Promise((r) => sock.once('secureConnect', r))
  // The device keys travel first (a registry the server would hold): not timed.
  const hello = Buffer.from(JSON.stringify(keysDer.map((d) => d.toString('base64'))))
  const h = Buffer.alloc(4)
  h.writeUInt32BE(hello.byteLength)
  sock.write(Buffer.concat([h, hello]))
  let acked = 0
  let receipted = 0
  let buf = Buffer.alloc(0)
  let t0 = 0
  const done = new Promise((resolve) => {
    sock.on('data', (d) => {
      buf = buf.byteLength ? Buffer.concat([buf, d]) : d
      let at = 0
      while (buf.byteLength - at >= 5) {
        const len = buf.readUInt32BE(at)
        if (buf.byteLength - at < 4 + len) break
        const kind = buf[at + 4]
        const body = buf.subarray(at + 5, at + 4 + len)
        if (kind === 1) acked += body.byteLength / 33
        else if (kind === 2) receipted += body.readUInt32BE(0)
        else if (kind === 0) t0 = performance.now()
        at += 4 + len
      }
      buf = buf.subarray(at)
      if (receipted >= records) resolve(performance.now())
    })
  })
  await new Promise((r) => setTimeout(r, 50))
  const start = performance.now()
  for (let off = 0; off < frames.byteLength; off += 256 * FRAME) {
    if (!sock.write(frames.subarray(off, Math.min(frames.byteLength, off + 256 * FRAME)))) await new Promise((r) => sock.once('drain', r))
  }
  const end = await done
  sock.end()
  return { ms: end - start, acked, receipted, t0: t0 - start }
}

// ---- server: the unavoidable work, measured ---------------------------------------------------------
function startServer({ dir, threads, cert, key }) {
  // One listener per worker, replies in the order of the batches sent to it.
  const workers = workerPool(fileURLToPath(import.meta.url), threads)
  const log = openSync(join(dir, 'records.log'), 'a')
  const blocks = openSync(join(dir, 'blocks.log'), 'a')
  const { privateKey } = generateKeyPairSync('ed25519')
  const server = createServer({ cert, key }, (sock) => {
    let keysDer
    let buf = Buffer.alloc(0)
    let pending = 0
    let paused = false
    let next = 0 // round-robin worker
    const toVerify = []
    let verifying = 0
    const verified = [] // { recs: Buffer, ok, ids } waiting for the group commit
    let committing = false
    let acked = [] // ids acked, not yet in a block
    let sealing = false
    const send = (kind, body) => {
      const h = Buffer.alloc(5)
      h.writeUInt32BE(body.byteLength + 1)
      h[4] = kind
      sock.write(Buffer.concat([h, body]))
    }
    const dispatch = () => {
      while (toVerify.length > 0 && verifying < threads * 2) {
        const batch = toVerify.splice(0, 256)
        const packed = Buffer.concat(batch)
        const w = workers[next++ % threads]
        verifying++
        const data = packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength)
        void w.post({ data, keysDer }, [data]).then(({ ok, ids }) => {
          verifying--
          verified.push({ recs: packed, ok, ids })
          void commit()
          dispatch()
        })
      }
    }
    // Group commit: everything verified so far in one write + fdatasync, then one ack frame.
    const commit = async () => {
      if (committing || verified.length === 0) return
      committing = true
      const groups = verified.splice(0)
      const recs = Buffer.concat(groups.map((g) => g.recs))
      await fsWrite(log, recs)
      await fsDatasync(log)
      const n = groups.reduce((s, g) => s + g.ok.length, 0)
      const ack = Buffer.alloc(33 * n)
      let k = 0
      for (const g of groups) {
        for (let i = 0; i < g.ok.length; i++, k++) {
          ack[33 * k] = g.ok[i]
          ack.set(g.ids.subarray(32 * i, 32 * i + 32), 33 * k + 1)
          if (g.ok[i] === 1) acked.push(g.ids.subarray(32 * i, 32 * i + 32))
        }
      }
      send(1, ack)
      pending -= n
      if (paused && pending < MAX_PENDING / 2) {
        paused = false
        sock.resume()
      }
      committing = false
      void commit()
    }
    // A block of what was acked: RFC 6962 tree, one signature, appended and synced; a receipt per record.
    const seal = async () => {
      if (sealing || acked.length === 0) return
      sealing = true
      const ids = acked
      acked = []
      const levels = merkleLevels(ids)
      const root = levels[levels.length - 1][0]
      const sig = sign(null, root, privateKey)
      await fsWrite(blocks, Buffer.concat([root, sig, ...ids]))
      await fsDatasync(blocks)
      const parts = [Buffer.alloc(4)]
      parts[0].writeUInt32BE(ids.length)
      parts.push(root, sig)
      parts.push(receipts(ids, levels))
      send(2, Buffer.concat(parts))
      sealing = false
    }
    const timer = setInterval(() => void seal(), BLOCK_MS)
    sock.on('close', () => clearInterval(timer))
    sock.on('data', (d) => {
      buf = buf.byteLength ? Buffer.concat([buf, d]) : d
      let at = 0
      if (keysDer === undefined) {
        if (buf.byteLength < 4 || buf.byteLength < 4 + buf.readUInt32BE(0)) return
        const len = buf.readUInt32BE(0)
        keysDer = JSON.parse(buf.subarray(4, 4 + len).toString()).map((b) => new Uint8Array(Buffer.from(b, 'base64')))
        at = 4 + len
        send(0, Buffer.alloc(0))
      }
      while (buf.byteLength - at >= FRAME) {
        toVerify.push(buf.subarray(at + HEAD, at + FRAME))
        pending++
        at += FRAME
      }
      buf = buf.subarray(at)
      if (pending >= MAX_PENDING && !paused) {
        paused = true
        sock.pause()
      }
      dispatch()
    })
  })
  return {
    listen: () => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port))),
    close: async () => {
      server.close()
      closeSync(log)
      closeSync(blocks)
      await Promise.all(workers.map((w) => w.terminate()))
    },
  }
}

/** A self-signed certificate, made with the node's own generator (the handshake is not per record). */
async function tlsIdentity() {
  const { generateCertificate } = await import('@profichain/ingest')
  return generateCertificate('localhost')
}

/** The limit: median records/s (first record sent → last receipt received) over `runs` runs. */
export async function apiLimit({ records = 20_000, threads = availableParallelism(), runs = 3 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pc-api-limit-'))
  try {
    const { cert, key } = await tlsIdentity()
    const out = []
    for (let r = 0; r < runs; r++) {
      const server = startServer({ dir, threads, cert, key })
      const port = await server.listen()
      const child = fork(fileURLToPath(import.meta.url), ['--sender'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      child.send({ port, records })
      const res = await new Promise((resolve, reject) => {
        child.once('message', resolve)
        child.once('exit', (code) => reject(new Error(`sender exited with ${code}`)))
      })
      child.kill()
      await server.close()
      if (res.receipted !== records || res.acked !== records) throw new Error(`limit run lost records: ${JSON.stringify(res)}`)
      out.push(records / (res.ms / 1000))
    }
    return { perS: median(out), runs: out, threads }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--sender')) {
    process.once('message', async (m) => {
      process.send(await sender(m))
    })
  } else {
    const arg = (name, d) => {
      const i = process.argv.indexOf(name)
      return i >= 0 ? Number(process.argv[i + 1]) : d
    }
    const res = await apiLimit({ records: arg('--records', 20_000), threads: arg('--threads', availableParallelism()), runs: arg('--runs', 3) })
    console.log(`ingest API machine limit: ${Math.round(res.perS)} records/s (median of ${res.runs.map((x) => Math.round(x)).join(', ')}; ${res.threads} verify threads)`)
  }
}
