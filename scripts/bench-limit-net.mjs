#!/usr/bin/env node
// The machine's limit for the devnet benchmark (issue 12: 2 thin + 1 full on these 2 cores): only the unavoidable
// work per record, in plain Node, in three processes like the devnet's. Each "thin" process reads its JSONL file of
// 1 KiB lines, SHA-256s each line, signs each record (Ed25519), appends the group to its outbox file with one
// fdatasync (durable before it leaves, as the node's outbox), and sends it to the "full" process over TLS. The full
// process verifies every record (payload hash and signature, worker threads, one per core) and every second seals
// what it verified into a block: RFC 6962 tree of the txIds, one signature, the block appended and fdatasync'ed,
// then the block without payloads sent to both thin processes. Each thin process checks the block (the header's
// signature, the Merkle root, and the signatures of the other thin's records, as a node validates a block), appends
// it with one fdatasync, and writes a receipt (txId, index, audit path) for each of its own records, synced. No
// LevelDB, no CBOR, no indexes, no gossip mesh, no mempool: the devnet's rates are stated as a share of this.
// The rate is all records / (start → the last receipt written on either thin process), median of the runs.
// Usage: node scripts/bench-limit-net.mjs [--records 20000 (per thin process)] [--threads N] [--runs 3]
// As a module: `await netLimit({ records, threads, runs })` → { perS, runs: [...], threads }.
import { fork } from 'node:child_process'
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { isMainThread, parentPort } from 'node:worker_threads'
import { fsDatasync, fsWrite, median, merkleLevels, receipts, sha256, workerPool } from './limit/common.mjs'

const PAYLOAD_BYTES = 1024
const BLOCK_MS = 1000
const GROUP = 1024
/** Stripped record: origin index u8 ‖ seq u32 ‖ timestamp u64 ‖ payload hash 32; then signature 64. */
const STRIPPED = 1 + 4 + 8 + 32
const SIG = 64
const REC = STRIPPED + SIG
const THINS = 2

const now = () => performance.timeOrigin + performance.now()

/** Frames on every link: u32 length ‖ u8 kind ‖ body. */
function frame(kind, body) {
  const h = Buffer.alloc(5)
  h.writeUInt32BE(body.byteLength + 1)
  h[4] = kind
  return Buffer.concat([h, body])
}
function reader(onFrame) {
  let buf = Buffer.alloc(0)
  // Chunks of a frame still arriving are kept apart and joined once it is whole.
  let parts = []
  let partsBytes = 0
  let want = 0
  return (d) => {
    if (want > 0) {
      parts.push(d)
      partsBytes += d.byteLength
      if (partsBytes < want) return
      d = Buffer.concat(parts)
      parts = []
      partsBytes = 0
      want = 0
    }
    buf = buf.byteLength ? Buffer.concat([buf, d]) : d
    let at = 0
    while (buf.byteLength - at >= 5) {
      const len = buf.readUInt32BE(at)
      if (buf.byteLength - at < 4 + len) break
      onFrame(buf[at + 4], buf.subarray(at + 5, at + 4 + len))
      at += 4 + len
    }
    buf = buf.subarray(at)
    if (buf.byteLength >= 4) {
      want = 4 + buf.readUInt32BE(0)
      parts = [buf]
      partsBytes = buf.byteLength
      buf = Buffer.alloc(0)
    }
  }
}

// ---- worker (full process): payload hash + signature of a packed batch of full records --------------------
if (!isMainThread) {
  const keys = new Map()
  parentPort.on('message', ({ data, keysDer }) => {
    const bytes = Buffer.from(data)
    const n = bytes.byteLength / (REC + PAYLOAD_BYTES)
    const ok = new Uint8Array(n)
    const ids = new Uint8Array(32 * n)
    for (let i = 0; i < n; i++) {
      const rec = bytes.subarray(i * (REC + PAYLOAD_BYTES), (i + 1) * (REC + PAYLOAD_BYTES))
      const o = rec[0]
      let key = keys.get(o)
      if (!key) keys.set(o, (key = createPublicKey({ key: Buffer.from(keysDer[o]), format: 'der', type: 'spki' })))
      const hashOk = sha256(rec.subarray(REC)).equals(rec.subarray(13, STRIPPED))
      if (hashOk && verify(null, rec.subarray(0, STRIPPED), key, rec.subarray(STRIPPED, REC))) ok[i] = 1
      ids.set(sha256(rec.subarray(0, REC)), 32 * i)
    }
    parentPort.postMessage({ ok, ids }, [ok.buffer, ids.buffer])
  })
}

// ---- full process ----------------------------------------------------------------------------------------------
async function full({ dir, threads, cert, key, keysDer }) {
  const workers = workerPool(fileURLToPath(import.meta.url), threads)
  const blocks = openSync(join(dir, 'full-blocks.log'), 'a')
  const { privateKey } = generateKeyPairSync('ed25519')
  const socks = []
  let next = 0
  let pending = [] // verified { rec (stripped + sig), id } waiting for the next block
  let height = 0
  let sealing = false
  const seal = async () => {
    if (sealing || pending.length === 0) return
    sealing = true
    const txs = pending
    pending = []
    const root = merkleLevels(txs.map((t) => t.id)).at(-1)[0]
    const header = Buffer.alloc(4 + 8 + 32)
    header.writeUInt32BE(++height, 0)
    header.writeBigUInt64BE(BigInt(Date.now()), 4)
    root.copy(header, 12)
    const sig = sign(null, header, privateKey)
    // The producer keeps the payloads: the whole block is written and synced.
    await fsWrite(blocks, Buffer.concat([header, sig, ...txs.map((t) => t.full)]))
    await fsDatasync(blocks)
    const count = Buffer.alloc(4)
    count.writeUInt32BE(txs.length)
    const msg = frame(2, Buffer.concat([header, sig, count, ...txs.map((t) => t.rec)]))
    for (const s of socks) s.write(msg)
    sealing = false
  }
  const timer = setInterval(() => void seal(), BLOCK_MS)
  const server = createServer({ cert, key }, (sock) => {
    socks.push(sock)
    sock.on(
      'data',
      reader((kind, body) => {
        if (kind !== 1) return
        const data = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)
        const copy = Buffer.from(body) // a copy: `data` is transferred to the worker
        void workers[next++ % threads].post({ data, keysDer }, [data]).then(({ ok, ids }) => {
          for (let i = 0; i < ok.length; i++) {
            if (ok[i] !== 1) throw new Error('a record did not verify')
            const full = copy.subarray(i * (REC + PAYLOAD_BYTES), (i + 1) * (REC + PAYLOAD_BYTES))
            pending.push({ full, rec: full.subarray(0, REC), id: Buffer.from(ids.subarray(32 * i, 32 * i + 32)) })
          }
        })
      }),
    )
  })
  const port = await new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)))
  return {
    port,
    close: async () => {
      clearInterval(timer)
      for (const s of socks) s.destroy()
      server.close()
      closeSync(blocks)
      await Promise.all(workers.map((w) => w.terminate()))
    },
    // Blocks are checked by the thin processes against this key.
    producerKeyDer: createPublicKey(privateKey).export({ format: 'der', type: 'spki' }),
  }
}

// ---- thin process ----------------------------------------------------------------------------------------------
async function thin({ dir, me, records, port, seedDer, keysDer, producerKeyDer }, go) {
  const { createPrivateKey } = await import('node:crypto')
  const privateKey = createPrivateKey({ key: Buffer.from(seedDer), format: 'der', type: 'pkcs8' })
  const keys = keysDer.map((d) => createPublicKey({ key: Buffer.from(d), format: 'der', type: 'spki' }))
  const producer = createPublicKey({ key: Buffer.from(producerKeyDer), format: 'der', type: 'spki' })
  const inbox = join(dir, `thin-${me}.jsonl`)
  const outbox = openSync(join(dir, `thin-${me}-outbox.log`), 'a')
  const chain = openSync(join(dir, `thin-${me}-chain.log`), 'a')
  const receiptsFd = openSync(join(dir, `thin-${me}-receipts.log`), 'a')
  const sock = connect({ port, host: '127.0.0.1', rejectUnauthorized: false })
  await new Promise((r) => sock.once('secureConnect', r))
  let receipted = 0
  let chainWrite = Promise.resolve()
  const done = new Promise((resolve, reject) => {
    sock.on(
      'data',
      reader((kind, body) => {
        if (kind !== 2) return
        // Blocks are handled one after the other, as a node imports them.
        chainWrite = chainWrite.then(async () => {
          const header = body.subarray(0, 44)
          if (!verify(null, header, producer, body.subarray(44, 108))) throw new Error('bad block signature')
          const n = body.readUInt32BE(108)
          const ids = new Array(n)
          const mine = []
          for (let i = 0; i < n; i++) {
            const rec = body.subarray(112 + i * REC, 112 + (i + 1) * REC)
            if (rec[0] === me) mine.push(i)
            else if (!verify(null, rec.subarray(0, STRIPPED), keys[rec[0]], rec.subarray(STRIPPED))) throw new Error('bad record in block')
            ids[i] = sha256(rec)
          }
          const levels = merkleLevels(ids)
          if (!levels.at(-1)[0].equals(header.subarray(12, 44))) throw new Error('Merkle root mismatch')
          await fsWrite(chain, body)
          await fsDatasync(chain)
          if (mine.length > 0) {
            await fsWrite(receiptsFd, receipts(ids, levels, mine))
            await fsDatasync(receiptsFd)
          }
          receipted += mine.length
          if (process.env.DEBUG_LIMIT) console.error(`thin ${me}: block ${header.readUInt32BE(0)} of ${n} (${mine.length} mine) at ${Math.round(now() - start)} ms`)
          if (receipted >= records) resolve(now())
        }, reject)
      }),
    )
  })
  // Connected and ready: wait for the common start, then read, hash, sign, make durable, send.
  const start = await go()
  await new Promise((r) => setTimeout(r, Math.max(0, start - now())))
  const lines = readFileSync(inbox)
  let seq = 0
  let at = 0
  while (at < lines.byteLength) {
    const parts = []
    for (let k = 0; k < GROUP && at < lines.byteLength; k++) {
      let end = lines.indexOf(10, at)
      if (end < 0) end = lines.byteLength
      const payload = lines.subarray(at, end)
      at = end + 1
      const rec = Buffer.alloc(REC)
      rec[0] = me
      rec.writeUInt32BE(seq++, 1)
      rec.writeBigUInt64BE(BigInt(Date.now()), 5)
      sha256(payload).copy(rec, 13)
      sign(null, rec.subarray(0, STRIPPED), privateKey).copy(rec, STRIPPED)
      // Fixed-size payload on the wire (lines are PAYLOAD_BYTES long).
      parts.push(rec, payload)
    }
    const group = Buffer.concat(parts)
    await fsWrite(outbox, group)
    await fsDatasync(outbox)
    if (!sock.write(frame(1, group))) await new Promise((r) => sock.once('drain', r))
  }
  if (process.env.DEBUG_LIMIT) console.error(`thin ${me}: all sent at ${Math.round(now() - start)} ms`)
  const end = await done
  sock.destroy()
  for (const fd of [outbox, chain, receiptsFd]) closeSync(fd)
  return { end, receipted }
}

/** A JSONL file of `n` lines of exactly PAYLOAD_BYTES bytes each. */
function writeLines(file, n, tag) {
  const parts = []
  for (let i = 0; i < n; i++) {
    const head = `{"sensor":"${tag}","i":${i},"v":"`
    parts.push(head + 'x'.repeat(PAYLOAD_BYTES - head.length - 2) + '"}')
  }
  writeFileSync(file, parts.join('\n'))
}

/** The limit: median records/s over `runs` runs (all 2 × records, common start → last receipt written). */
export async function netLimit({ records = 20_000, threads = availableParallelism(), runs = 3 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pc-net-limit-'))
  try {
    const { generateCertificate } = await import('@profichain/ingest')
    const { cert, key } = await generateCertificate('localhost')
    const pairs = Array.from({ length: THINS }, () => generateKeyPairSync('ed25519'))
    const keysDer = pairs.map((p) => p.publicKey.export({ format: 'der', type: 'spki' }))
    for (let me = 0; me < THINS; me++) writeLines(join(dir, `thin-${me}.jsonl`), records, `s${me}`)
    const out = []
    for (let r = 0; r < runs; r++) {
      const runDir = mkdtempSync(join(dir, `run-${r}-`))
      for (let me = 0; me < THINS; me++) writeFileSync(join(runDir, `thin-${me}.jsonl`), readFileSync(join(dir, `thin-${me}.jsonl`)))
      const fullProc = spawnRole('full', { dir: runDir, threads, cert, key, keysDer })
      const { port, producerKeyDer } = await fullProc.ready
      const thins = pairs.map((p, me) =>
        spawnRole('thin', { dir: runDir, me, records, port, seedDer: p.privateKey.export({ format: 'der', type: 'pkcs8' }), keysDer, producerKeyDer }),
      )
      await Promise.all(thins.map((t) => t.ready))
      const start = now() + 200
      const results = await Promise.all(
        thins.map((t) => {
          const res = new Promise((resolve) => t.child.once('message', resolve))
          t.child.send({ start })
          return res
        }),
      )
      for (const t of thins) t.child.kill()
      fullProc.child.kill()
      if (results.some((x) => x.receipted !== records)) throw new Error(`limit run lost records: ${JSON.stringify(results)}`)
      out.push((THINS * records) / ((Math.max(...results.map((x) => x.end)) - start) / 1000))
    }
    return { perS: median(out), runs: out, threads }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A child process in `role`, given `init`; `ready` resolves with its first message. */
function spawnRole(role, init) {
  const child = fork(fileURLToPath(import.meta.url), [`--${role}`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' })
  child.send(init)
  const ready = new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', (code) => reject(new Error(`${role} process exited with ${code}`)))
  })
  return { child, ready }
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--full')) {
    process.once('message', async (m) => {
      const f = await full(m)
      process.send({ port: f.port, producerKeyDer: f.producerKeyDer })
    })
  } else if (process.argv.includes('--thin')) {
    process.once('message', async (m) => {
      const go = () => {
        const started = new Promise((r) => process.once('message', (g) => r(g.start)))
        process.send({ ready: true })
        return started
      }
      process.send(await thin(m, go))
    })
  } else {
    const arg = (name, d) => {
      const i = process.argv.indexOf(name)
      return i >= 0 ? Number(process.argv[i + 1]) : d
    }
    const res = await netLimit({ records: arg('--records', 20_000), threads: arg('--threads', availableParallelism()), runs: arg('--runs', 3) })
    console.log(
      `devnet machine limit (2 thin + 1 full processes): ${Math.round(res.perS)} records/s (median of ${res.runs.map((x) => Math.round(x)).join(', ')}; ${res.threads} verify threads on the full process)`,
    )
  }
}
