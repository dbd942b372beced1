// End to end (issue 15): a real node-opcua server (the machine-tool simulator) and client (the bridge), a
// real full node as a separate process ingesting the bridge's files in line mode, real receipts. The
// 60 s run, the reconnect run, the SIGKILL run and the ingest-API run share one node and run side by side.
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { createServer, type Server, type Socket, connect } from 'node:net'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readLineReceipts } from '@profichain/ingest'
import { type ChainpointProof, generateKeyPair, toHex, verifyChainpointReceipt } from '@profichain/core'
import { type ClientReceipt, createClient } from '@profichain/client'
import {
  type Bridge,
  createApiOutput,
  createBridge,
  createFileOutput,
  createSimulator,
  type JsonDataSetMessage,
  parseBridgeLine,
  SIM_VARIABLES,
  simNodeId,
  type Simulator,
} from '@profichain/opcua'
import { CLI, exists, gql as nodeGql, initIngestNode, type RunningNode, startNode, tempDir, waitFor } from './helpers.js'

const cleanups: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

const FAST = SIM_VARIABLES.filter((v) => v.fast)
const items = (n: number, samplingIntervalMs: number) =>
  FAST.slice(0, n).map((v) => ({ nodeId: simNodeId(v.path), name: v.path.split('/').slice(-2).join('.'), samplingIntervalMs, publishingIntervalMs: 100, queueSize: 1000 }))

/** A TCP proxy that can drop every connection and refuse new ones for a while (network loss). */
function lossyProxy(targetPort: number): Promise<{ port: number; cut(ms: number): void; close(): Promise<void> }> {
  const socks = new Set<Socket>()
  let refuseUntil = 0
  const server: Server = createServer((c) => {
    if (Date.now() < refuseUntil) return void c.destroy()
    const u = connect(targetPort, '127.0.0.1')
    socks.add(c).add(u)
    c.pipe(u).pipe(c)
    const end = () => {
      c.destroy()
      u.destroy()
      socks.delete(c)
      socks.delete(u)
    }
    c.on('error', end).on('close', end)
    u.on('error', end).on('close', end)
  })
  return new Promise((res) =>
    server.listen(0, '127.0.0.1', () =>
      res({
        port: (server.address() as { port: number }).port,
        cut(ms) {
          refuseUntil = Date.now() + ms
          for (const s of socks) s.destroy()
        },
        close: () => new Promise<void>((r) => server.close(() => r())),
      }),
    ),
  )
}

interface Committed {
  files: string[]
  /** Data samples in file and line order. */
  samples: JsonDataSetMessage[]
  gaps: number
  lines: number
}

/** Read a bridge's processed files (sorted = file chain order), check the chain, every line and its receipt. */
async function readCommitted(dir: string, sub: string, api: string, network: string, heights: Map<number, string>): Promise<Committed> {
  const pdir = join(dir, 'processed', sub)
  const files = (await readdir(pdir)).filter((f) => f.endsWith('.jsonl')).sort()
  const out: Committed = { files, samples: [], gaps: 0, lines: 0 }
  let prevHash = ''
  for (const [i, f] of files.entries()) {
    const bytes = await readFile(join(pdir, f))
    expect(bytes.at(-1), `${f} ends with a newline (never half-written)`).toBe(0x0a)
    const lines = bytes.toString('utf8').split('\n').slice(0, -1)
    const receipts = await readLineReceipts(join(dir, 'receipts', sub, `${f}.chp.jsonl`))
    expect(receipts.map((r) => r.line), `${f}: one receipt per line`).toEqual(lines.map((_, j) => j + 1))
    for (const [j, line] of lines.entries()) {
      const parsed = parseBridgeLine(line)
      if (j === 0) {
        expect(parsed.kind, `${f} starts with its file header`).toBe('file')
        if (parsed.kind === 'file') {
          expect(parsed.header.fileSeq).toBe(i + 1)
          expect(parsed.header.prevFileHash).toBe(prevHash)
        }
      } else if (parsed.kind === 'data') out.samples.push(...parsed.message.Messages)
      else if (parsed.kind === 'gap') out.gaps++
      else throw new Error(`${f} line ${j + 1}: a second file header`)
      const v = verifyChainpointReceipt(receipts[j].receipt as ChainpointProof, { payload: Buffer.from(line, 'utf8') })
      expect(v.network).toBe(network)
      if (!heights.has(v.height)) heights.set(v.height, (await (await fetch(`${api}/networks/${network}/blocks/${v.height}/hash`)).text()).trim())
      expect(v.blockHash, `${f} line ${j + 1}: receipt names the chain's block`).toBe(heights.get(v.height))
      out.lines++
    }
    prevHash = createHash('sha256').update(bytes).digest('hex')
  }
  return out
}

/** Per variable: sequence numbers 1..n without gap or repeat, source timestamps strictly increasing. */
function checkOrder(samples: JsonDataSetMessage[]): Map<number, number> {
  const seq = new Map<number, number>()
  const src = new Map<number, { key: string; value: string }>()
  for (const m of samples) {
    expect(m.SequenceNumber, `writer ${m.DataSetWriterId}: next sequence number`).toBe((seq.get(m.DataSetWriterId) ?? 0) + 1)
    seq.set(m.DataSetWriterId, m.SequenceNumber)
    const dv = Object.values(m.Payload)[0]
    expect(dv.StatusCode).toBe(0)
    // (timestamp, picoseconds) never goes back; an equal one must carry another value (else it is a duplicate).
    const key = `${dv.SourceTimestamp}|${String(dv.SourcePicoseconds ?? 0).padStart(12, '0')}`
    const prev = src.get(m.DataSetWriterId)
    if (prev) {
      expect(key >= prev.key, `writer ${m.DataSetWriterId}: source timestamps never go back`).toBe(true)
      if (key === prev.key) expect(JSON.stringify(dv.Value)).not.toBe(prev.value)
    }
    src.set(m.DataSetWriterId, { key, value: JSON.stringify(dv.Value) })
  }
  return seq
}

async function startSim(port = 0): Promise<Simulator> {
  const sim = await createSimulator({ port, minSamplingIntervalMs: 10, minPublishingIntervalMs: 10 })
  cleanups.push(() => sim.stop())
  return sim
}

async function bridgeInto(dir: string, sub: string, publisherId: string, endpointUrl: string, n: number, batch: number): Promise<Bridge> {
  const output = createFileOutput({ dir: join(dir, 'inbox', sub), stateDir: join(dir, `state-${sub}`), publisherId, rotate: { maxMs: 1000 } })
  const bridge = createBridge(
    { publisherId, servers: [{ endpointUrl, items: items(n, 10) }], samplesPerRecord: batch, reconnectInitialDelayMs: 100, reconnectMaxDelayMs: 1000, pkiDir: join(dir, 'pki') },
    { output },
  )
  cleanups.push(() => bridge.stop())
  await bridge.start()
  return bridge
}

const until = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('OPC UA bridge → thin node inbox → receipts', () => {
  it('60 s × 10 variables: every sample in exactly one committed record, in order; reconnects gap-marked; SIGKILL never ingests a half file; the ingest API output', async () => {
    const dir = join(await tempDir('opcua'), 'node')
    const TOKEN = 'opcua-e2e-token-0123456789abcdef'
    const { api, ingestPort, network } = await initIngestNode(dir, { token: TOKEN, initArgs: ['--line-mode'], edit: (t) => t.replace('stable_ms = 500', 'stable_ms = 200') })
    const node: RunningNode = await startNode(dir)
    cleanups.push(() => node.stop('SIGKILL'))

    // A: the 60 s run, 10 variables at the fastest rate (10 ms), 100 samples per record.
    const simA = await startSim()
    const runA = (async () => {
      const bridge = await bridgeInto(dir, 'a', 'mill-a', simA.endpointUrl, 10, 100)
      await until(60_000) // the run's length is the point here; nothing is asserted on time
      await bridge.stop()
      return bridge.stats()
    })()

    // B: network loss, then a server restart, mid-run (3 variables, 10 samples per record).
    const runB = (async () => {
      let simB = await startSim()
      const proxy = await lossyProxy(simB.port)
      cleanups.push(() => proxy.close())
      const bridge = await bridgeInto(dir, 'b', 'mill-b', `opc.tcp://127.0.0.1:${proxy.port}/UA/MachineTool`, 3, 10)
      const gaps: string[] = []
      bridge.events.on('gap', (g) => gaps.push(g.reason))
      const samplesAfter = async (what: string) => {
        const at = bridge.stats().received
        await waitFor(what, () => bridge.stats().received > at + 300, 40_000)
      }
      await samplesAfter('samples before the network loss')
      proxy.cut(3000)
      await waitFor('gap marker after the network loss', () => gaps.length >= 1, 40_000)
      await samplesAfter('samples after the network loss')
      await simB.stop()
      simB = await startSim(simB.port)
      await waitFor('gap marker after the server restart', () => gaps.length >= 2, 40_000)
      await samplesAfter('samples after the server restart')
      await bridge.stop()
      return { stats: bridge.stats(), gaps }
    })()

    // C: the bridge as a process (profichain opcua --config), SIGKILLed while a .part file is open, restarted.
    const simC = await startSim()
    const runC = (async () => {
      const toml = join(dir, 'opcua-c.toml')
      await writeFile(
        toml,
        [
          'publisher_id = "mill-c"',
          'samples_per_record = 10',
          'state_dir = "state-c"',
          '[output]',
          'kind = "files"',
          'inbox = "inbox/c"',
          'rotate_max_ms = 500',
          '[[servers]]',
          `endpoint_url = "${simC.endpointUrl}"`,
          ...items(3, 10).flatMap((it) => ['[[servers.items]]', `node_id = "${it.nodeId}"`, `name = "${it.name}"`, 'sampling_interval_ms = 10']),
        ].join('\n'),
      )
      const spawnBridge = (): ChildProcess => {
        const child = spawn(process.execPath, [CLI, 'opcua', '--config', toml], { stdio: 'ignore' })
        cleanups.push(async () => child.kill('SIGKILL'))
        return child
      }
      const inbox = join(dir, 'inbox', 'c')
      const parts = async () => ((await exists(inbox)) ? (await readdir(inbox)).filter((f) => f.endsWith('.part')) : [])
      let child = spawnBridge()
      await waitFor('bridge C files ingested', async () => (await exists(join(dir, 'processed', 'c'))) && (await readdir(join(dir, 'processed', 'c'))).length >= 3, 40_000)
      await waitFor('an open .part file', async () => (await parts()).length > 0, 20_000, 5)
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
      const partAtKill = (await parts())[0]
      child = spawnBridge()
      const seqAtKill = Number(/-(\d{10})\.jsonl\.part$/.exec(partAtKill ?? '')?.[1] ?? 0)
      await waitFor('files after the restart', async () => (await readdir(join(dir, 'processed', 'c'))).length >= seqAtKill + 3, 40_000)
      child.kill('SIGTERM')
      const code = await new Promise((r) => child.once('exit', r))
      return { partAtKill, seqAtKill, code }
    })()

    // D: the ingest API output, sealed at the source: the bridge is a registered device (@profichain/client, spool).
    const runD = (async () => {
      const key = generateKeyPair()
      const gql = (query: string, variables: Record<string, unknown>) => nodeGql<{ devices?: unknown[] }>(api, query, variables, { token: TOKEN })
      await gql('mutation($id: String!, $k: String!) { registerDevice(deviceId: $id, publicKey: $k) { txId } }', { id: 'mill-d', k: toHex(key.publicKey) })
      await waitFor('device registered', async () => ((await gql('{ devices(first: 10) { publicKey } }', {}))?.devices?.length ?? 0) >= 1, 30_000)
      const pem = await readFile(join(dir, 'ingest-api', 'cert.pem'), 'utf8')
      const fingerprint = createHash('sha256').update(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')).digest('hex')
      const client = createClient({ host: '127.0.0.1', port: ingestPort, fingerprint, network, deviceKey: key, spoolDir: join(dir, 'spool-d'), backoffMs: { initial: 50, max: 500 } })
      const receipts = new Map<string, ClientReceipt>()
      client.on('receipt', (r) => receipts.set(r.txId, r))
      const payloads = new Map<string, Uint8Array>()
      const output = createApiOutput(
        {
          start: () => client.start(),
          async queue(payload, metadata) {
            const q = await client.queue(payload, metadata)
            payloads.set(q.txId, payload)
            return q
          },
          drain: (o) => client.drain(o),
          close: () => client.close(),
        },
        { drainReceipts: true, drainTimeoutMs: 60_000 },
      )
      const simD = await startSim()
      const bridge = createBridge({ publisherId: 'mill-d', servers: [{ endpointUrl: simD.endpointUrl, items: items(2, 10) }], samplesPerRecord: 10 }, { output })
      cleanups.push(() => bridge.stop())
      await bridge.start()
      await waitFor('1000 samples over the ingest API', () => bridge.stats().received >= 1000, 40_000)
      await bridge.stop() // drains: every record acknowledged and receipted
      return { stats: bridge.stats(), receipts, payloads }
    })()

    const [a, b, c, d] = await Promise.all([runA, runB, runC, runD])

    // Everything the bridges wrote is ingested (nothing left but nothing half-written) and committed.
    for (const sub of ['a', 'b', 'c']) {
      await waitFor(`inbox/${sub} drained`, async () => (await readdir(join(dir, 'inbox', sub))).filter((f) => !f.startsWith('.')).length === 0, 60_000, 250)
    }
    const lineCount = async (sub: string) => {
      let n = 0
      for (const f of await readdir(join(dir, 'processed', sub))) n += (await readFile(join(dir, 'processed', sub, f), 'utf8')).split('\n').length - 1
      return n
    }
    const receiptCount = async (sub: string) => {
      let n = 0
      for (const f of await readdir(join(dir, 'processed', sub))) {
        const p = join(dir, 'receipts', sub, `${f}.chp.jsonl`)
        if (await exists(p)) n += (await readLineReceipts(p)).length
      }
      return n
    }
    for (const sub of ['a', 'b', 'c']) {
      const want = await lineCount(sub)
      await waitFor(`receipts for all ${want} lines of ${sub}`, async () => (await receiptCount(sub)) === want, 60_000, 500)
    }
    if (await exists(join(dir, 'rejected'))) expect(await readdir(join(dir, 'rejected'), { recursive: true })).toEqual([])
    const heights = new Map<number, string>()

    // A: every sample received is in exactly one committed record, in order per variable.
    const ca = await readCommitted(dir, 'a', api, network, heights)
    expect(ca.gaps).toBe(0)
    expect(ca.samples.length).toBe(a.received)
    expect(a.duplicates).toBe(0)
    const seqA = checkOrder(ca.samples)
    expect([...seqA.entries()].sort((x, y) => x[0] - y[0])).toEqual(a.perItem.map((p) => [p.writerId, p.samples]))
    const rates = a.perItem.map((p) => (p.samples - 1) / ((p.lastAt - p.firstAt) / 1000))
    process.stderr.write(`opcua e2e: ${a.received} samples in ${ca.lines} lines (${ca.files.length} files); achieved ${Math.min(...rates).toFixed(1)}–${Math.max(...rates).toFixed(1)} Hz per variable\n`)
    expect(a.received).toBeGreaterThan(10 * 60) // at least 1 Hz per variable over 60 s

    // B: two gaps marked, nothing lost that was received, nothing duplicated.
    const cb = await readCommitted(dir, 'b', api, network, heights)
    expect(b.gaps).toEqual(['connection-lost', 'connection-lost'])
    expect(cb.gaps).toBe(2)
    expect(cb.samples.length).toBe(b.stats.received)
    checkOrder(cb.samples)

    // C: the part file open at the kill was finished from its complete lines (or dropped if only a header); the
    // file chain continues across the kill; a bridge-restart gap is marked; every ingested line parses.
    expect(c.code).toBe(0)
    expect(c.partAtKill).toBeDefined()
    const cc = await readCommitted(dir, 'c', api, network, heights)
    expect(cc.gaps).toBeGreaterThanOrEqual(1)
    expect(cc.files.length).toBeGreaterThanOrEqual(c.seqAtKill + 2)

    // D: every record sent over the ingest API came back with a valid receipt; its samples are all received ones, in order.
    expect(d.receipts.size).toBe(d.payloads.size)
    expect(d.stats.records).toBe(d.payloads.size)
    const dSamples: JsonDataSetMessage[] = []
    for (const [txId, payload] of d.payloads) {
      const r = d.receipts.get(txId)!
      const v = verifyChainpointReceipt(r.chainpoint as ChainpointProof, { payload })
      expect(v.txId).toBe(txId)
      const p = parseBridgeLine(Buffer.from(payload).toString('utf8'))
      if (p.kind === 'data') dSamples.push(...p.message.Messages)
    }
    expect(dSamples.length).toBe(d.stats.received)
    checkOrder(dSamples)
  })
})
