import { createRequire } from 'node:module'
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createConsensus, loadGenesis } from '@profichain/consensus'
import { blockHash, createBlock, readKeyFile, toBase64, fromBase64 } from '@profichain/core'
import { type Broker, createBroker, formatAddCheckpoint } from '@profichain/global'
import { BlockTree } from '@profichain/store'
import { createNode, loadConfig, type ProfichainNode } from '@profichain/node'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, freePort, readJson, tempDir, waitFor } from './helpers.js'

const require = createRequire(import.meta.url)
const { parse } = require('chainpoint-parse') as {
  parse: (o: unknown) => { branches: Array<{ anchors: Array<{ expected_value: string; uris?: string[] }>; branches?: Array<{ label?: string; anchors: Array<{ expected_value: string; anchor_id: string; uris?: string[] }> }> }> }
}

interface Company {
  name: string
  dir: string
  origin: string
  apiPort: number
  node?: ProfichainNode
}

/** A one-validator company: fast blocks (empty ones too), checkpoints every 300 ms at depth 1, the broker. */
async function company(name: string, brokerUrl: string): Promise<Company> {
  const dir = join(await tempDir(`global-${name}`), name)
  const apiPort = await freePort()
  const origin = `${name}.example/profichain/plant`
  const r = await cli(['init', '--data-dir', dir, '--network', `net-${name}`, '--origin', origin, '--api-port', String(apiPort), '--p2p-port', String(await freePort()), '--block-time', '250', '--line-mode'])
  expect(r.code, r.stderr).toBe(0)
  const g = await readJson<Record<string, unknown>>(join(dir, 'genesis.json'))
  await writeFile(join(dir, 'genesis.json'), `${JSON.stringify({ ...g, checkpoint: { depth: 1, intervalMs: 300 } }, null, 2)}\n`)
  let toml = await readFile(join(dir, 'config.toml'), 'utf8')
  toml = toml.replace('empty_blocks = false', 'empty_blocks = true').replace('# network = true', 'network = false')
  toml += `\n[broker]\nurl = "${brokerUrl}"\n`
  await writeFile(join(dir, 'config.toml'), toml)
  return { name, dir, origin, apiPort }
}

async function selfOf(c: Company): Promise<{ origin: string; vkeys: string[]; encryptionKey: string }> {
  const r = await cli(['partner', 'list', '--data-dir', c.dir, '--json'])
  expect(r.code, r.stderr).toBe(0)
  return (JSON.parse(r.stdout) as { self: { origin: string; vkeys: string[]; encryptionKey: string } }).self
}

async function partner(c: Company, other: Company): Promise<void> {
  const s = await selfOf(other)
  const r = await cli(['partner', 'add', '--data-dir', c.dir, '--name', other.name, '--origin', s.origin, ...s.vkeys.flatMap((v) => ['--vkey', v]), '--encryption-key', s.encryptionKey])
  expect(r.code, r.stderr).toBe(0)
  expect(r.stdout).toContain('profichain partner add')
}

async function start(c: Company): Promise<ProfichainNode> {
  const config = await loadConfig(join(c.dir, 'config.toml'))
  const node = await createNode({ config, logger: pino({ level: process.env.PROFICHAIN_TEST_LOG ?? 'silent' }) })
  await node.start()
  c.node = node
  return node
}

async function blockHashAt(c: Company, network: string, height: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${c.apiPort}/networks/${network}/blocks/${height}/hash`)
  return (await res.text()).trim()
}

type CrossReceipt = { branches: Array<{ branches?: unknown[] }> }

async function addCheckpoint(to: Company, oldSize: number, proof: Uint8Array[], note: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${to.apiPort}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize, proof, note }) })
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() }
}

/** The same note with one byte of its last signature flipped (key ID untouched). */
function forge(note: string): string {
  const lines = note.split('\n')
  const i = lines.length - 2
  const [dash, name, b64] = lines[i].split(' ')
  const sig = fromBase64(b64)
  sig[10] ^= 1
  lines[i] = [dash, name, toBase64(sig)].join(' ')
  return lines.join('\n')
}

/**
 * The attacker: A's validator DB is wiped and a different history re-created with A's own key, fast,
 * straight into a fresh store (empty blocks `blocks` long, timestamps blockTime apart from genesis).
 */
async function rewriteChain(c: Company, blocks: number): Promise<void> {
  const config = await loadConfig(join(c.dir, 'config.toml'))
  await rm(config.paths.db, { recursive: true, force: true })
  const genesis = await loadGenesis(config.paths.genesis)
  const consensus = createConsensus(genesis)
  const key = await readKeyFile(config.paths.key)
  const tree = await BlockTree.open({ path: config.paths.db, genesis, consensus, genesisSource: config.paths.genesis })
  try {
    for (let i = 0; i < blocks; i++) {
      const parent = tree.head().header
      const block = createBlock({ network: genesis.network, height: parent.height + 1, timestamp: parent.timestamp + genesis.blockTimeMs, prevHash: blockHash(parent), producer: key.publicKey, txs: [] })
      await tree.addBlock(await consensus.seal(block, parent, key, tree.chain))
    }
  } finally {
    await tree.close()
  }
}

describe('global network: two companies countersign each other through a broker', () => {
  let broker: Broker
  let brokerPort: number
  const a: Company[] = []
  let first: { note: string } | undefined

  beforeAll(async () => {
    brokerPort = await freePort()
    broker = createBroker({ host: '127.0.0.1', port: brokerPort }, {})
    await broker.start()
    const url = `mqtt://127.0.0.1:${brokerPort}`
    const [A, B] = await Promise.all([company('alpha', url), company('beta', url)])
    a.push(A, B)
    await Promise.all([partner(A, B), partner(B, A)])
    await Promise.all([start(A), start(B)])
  })

  afterAll(async () => {
    for (const c of a) await c.node?.stop()
    await broker?.stop()
  })

  it("a record on A gets a receipt that reaches B's chain (chainpoint-parse, verify), and the other way round; a broker restart loses nothing", async () => {
    const [A, B] = a
    await writeFile(join(A.dir, 'inbox', 'reading-a.json'), '{"t": 21.5}\n')
    await writeFile(join(A.dir, 'inbox', 'lines-a.jsonl'), '{"t": 1}\n{"t": 2}\n')
    await writeFile(join(B.dir, 'inbox', 'reading-b.json'), '{"t": 19.0}\n')
    // The broker goes away and comes back on the same port while the checkpoints and proofs are on their way.
    first = await waitFor('first checkpoint of A', async () => A.node?.checkpoints?.checkpoints.latest(), 20_000)
    await broker.stop()
    await new Promise((r) => setTimeout(r, 500))
    broker = createBroker({ host: '127.0.0.1', port: brokerPort }, {})
    await broker.start()

    for (const [from, to] of [
      [A, B],
      [B, A],
    ] as const) {
      const file = join(from.dir, 'receipts', `reading-${from.name[0]}.json.chp.json`)
      const receipt = await waitFor(
        `${from.name}'s receipt upgraded with ${to.name}'s branch`,
        async () => {
          const r = (await readJson<CrossReceipt>(file).catch(() => undefined)) as CrossReceipt | undefined
          return r?.branches?.[0]?.branches?.length ? r : undefined
        },
        35_000,
        200,
      )
      const parsed = parse(receipt)
      const nested = parsed.branches[0].branches?.[0]
      expect(nested).toBeDefined()
      const anchor = nested!.anchors[0]
      const toNetwork = `net-${to.name}`
      expect(anchor.uris?.[0]).toContain(`/networks/${toNetwork}/blocks/${anchor.anchor_id}/hash`)
      expect(anchor.expected_value).toBe(await blockHashAt(to, toNetwork, Number(anchor.anchor_id)))
      const processed = join(from.dir, 'processed', `reading-${from.name[0]}.json`)
      const v = await cli([
        'verify', processed, '--receipt', file,
        '--api', `http://127.0.0.1:${from.apiPort}`,
        '--genesis', join(from.dir, 'genesis.json'),
        '--partner-genesis', join(to.dir, 'genesis.json'),
        '--partner-api', `http://127.0.0.1:${to.apiPort}`,
      ])
      expect(v.code, v.stdout + v.stderr).toBe(0)
      expect(v.stdout).toContain(`cosigned by ${to.origin}`)
      expect(v.stdout).toMatch(new RegExp(`asked node http://127.0.0.1:${to.apiPort}: its canonical block ${anchor.anchor_id} of "${toNetwork}"`))
    }

    // Line receipts are upgraded too (the upgraded entry is appended; the later one wins).
    const lines = join(A.dir, 'receipts', 'lines-a.jsonl.chp.jsonl')
    await waitFor('line receipts upgraded', async () => {
      const entries = (await readFile(lines, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { line: number; receipt: CrossReceipt })
      const last = new Map(entries.map((e) => [e.line, e.receipt]))
      return last.size === 2 && [...last.values()].every((r) => (r.branches[0].branches?.length ?? 0) > 0)
    }, 20_000, 200)
    const lv = await cli(['verify', join(A.dir, 'processed', 'lines-a.jsonl'), '--receipt', lines, '--genesis', join(A.dir, 'genesis.json'), '--partner-genesis', join(B.dir, 'genesis.json'), '--partner-api', `http://127.0.0.1:${B.apiPort}`])
    expect(lv.code, lv.stdout).toBe(0)

    // The native receipt carries A's signed checkpoint, B's cosignature and B's signed header: verifiable
    // offline with the two genesis files alone.
    // From the running node's API (GraphQL `receipt`), as `profichain proof --api` fetches it.
    const pr = await cli(['proof', '--api', `http://127.0.0.1:${A.apiPort}`, '--file', join(A.dir, 'processed', 'reading-a.json'), '--format', 'native', '--out', join(A.dir, 'native.json')])
    expect(pr.code, pr.stderr).toBe(0)
    expect((await readJson<{ entanglements?: unknown[] }>(join(A.dir, 'native.json'))).entanglements).toHaveLength(1)
    const [nv, wrongPartner] = await Promise.all([
      cli(['verify', join(A.dir, 'processed', 'reading-a.json'), '--receipt', join(A.dir, 'native.json'), '--genesis', join(A.dir, 'genesis.json'), '--partner-genesis', join(B.dir, 'genesis.json')]),
      cli(['verify', join(A.dir, 'processed', 'reading-a.json'), '--receipt', join(A.dir, 'native.json'), '--genesis', join(A.dir, 'genesis.json'), '--partner-genesis', join(A.dir, 'genesis.json')]),
    ])
    expect(nv.code, nv.stdout + nv.stderr).toBe(0)
    expect(nv.stdout).toContain(`cosigned by ${B.origin}`)

    // The same proofs over HTTP (POST /entanglement): a stored one again is accepted (idempotent), garbage is
    // 400, a proof addressed to another network is 404 at B (it names B itself as the partner).
    const stored = join(A.dir, 'partners', 'entanglements')
    const [sub] = await readdir(stored)
    const [file] = await readdir(join(stored, sub))
    const bytes = await readFile(join(stored, sub, file))
    const post = (c: Company, body: Uint8Array) => fetch(`http://127.0.0.1:${c.apiPort}/entanglement`, { method: 'POST', body: Buffer.from(body) })
    expect((await post(A, bytes)).status).toBe(200)
    expect((await post(A, new Uint8Array([1, 2, 3]))).status).toBe(400)
    expect((await post(B, bytes)).status).toBe(404)
    expect(wrongPartner.code, wrongPartner.stdout).toBe(1)
  })

  it('a replayed old checkpoint, a forged signature, a wrong consistency proof: the spec status code, nothing recorded', async () => {
    const [A, B] = a
    await A.node!.partners!.stop() // A stops offering: B's state for A holds still ...
    const witness = B.node!.checkpoints!.witness
    // ... once an offer already on its way through the broker has been answered (a CI run saw B cosign one more
    // after the stop): the state must read the same for 3 s.
    let stable = 0
    let last: Awaited<ReturnType<typeof witness.state.get>>
    const before = await waitFor("B's witness state for A to hold still", async () => {
      const now = await witness.state.get(A.origin)
      stable = now !== undefined && last !== undefined && now.size === last.size ? stable + 1 : 0
      last = now
      return stable >= 6 ? now : undefined
    }, 60_000, 500)
    expect(before).toBeDefined()
    const latest = await waitFor('a checkpoint of A beyond what B cosigned', async () => {
      const l = await A.node!.checkpoints!.checkpoints.latest()
      return l && l.checkpoint.size > before!.size ? l : undefined
    }, 20_000)
    const proof = await A.node!.checkpoints!.log.consistencyProof(before!.size, latest.checkpoint.size)
    const anchorsBefore = (await B.node!.partners!.report()).flatMap((r) => r.anchors)
    const replay = await addCheckpoint(B, 0, [], first!.note)
    expect(replay.status).toBe(409)
    expect(replay.type).toContain('text/x.tlog.size')
    expect(replay.body.trim()).toBe(String(before!.size))
    expect((await addCheckpoint(B, before!.size, proof, forge(latest.note))).status).toBe(403)
    const wrong = proof.length > 0 ? proof.map((p, i) => (i === 0 ? new Uint8Array(32).fill(9) : p)) : [new Uint8Array(32).fill(9)]
    expect((await addCheckpoint(B, before!.size, wrong, latest.note)).status).toBe(422)
    expect(await witness.state.get(A.origin)).toEqual(before)
    expect((await B.node!.partners!.report()).flatMap((r) => r.anchors)).toEqual(anchorsBefore)
    // The honest request still works: the refusals changed nothing.
    expect((await addCheckpoint(B, before!.size, proof, latest.note)).status).toBe(200)
  })

  it("rewrite attack: A's DB wiped and another history re-created with A's keys; B refuses, keeps evidence; A's earlier receipt still verifies against B's chain and proves the rewrite", async () => {
    const [A, B] = a
    const receipt = join(A.dir, 'receipts', 'reading-a.json.chp.json')
    const saved = join(A.dir, 'saved-receipt.chp.json')
    await copyFile(receipt, saved)
    const witnessed = (await B.node!.checkpoints!.witness.state.get(A.origin))!.size
    await A.node!.stop()
    const native = join(A.dir, 'saved-native.json')
    const pr = await cli(['proof', '--data-dir', A.dir, '--file', join(A.dir, 'processed', 'reading-a.json'), '--format', 'native', '--out', native])
    expect(pr.code, pr.stderr).toBe(0)
    expect((await readJson<{ entanglements?: unknown[] }>(native)).entanglements).toHaveLength(1)
    await rewriteChain(A, witnessed + 8)
    await start(A)
    const evidence = await waitFor('evidence at B', async () => {
      const e = await B.node!.checkpoints!.witness.evidence.list(A.origin)
      return e.length > 0 ? e : undefined
    }, 30_000)
    expect(evidence[0].kind).toBe('inconsistent')
    // A was told 422 (inconsistent with what B cosigned); B shows the evidence on its API too.
    await waitFor('A counted the 422', async () => /status="422"} [1-9]/.test(await A.node!.metrics.registry.getSingleMetricAsString('profichain_partners_refused_total')), 10_000)
    const gql = await fetch(`http://127.0.0.1:${B.apiPort}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ witnessEvidence { origin kind } }' }),
    })
    expect(((await gql.json()) as { data: { witnessEvidence: Array<{ origin: string; kind: string }> } }).data.witnessEvidence[0]).toEqual({ origin: A.origin, kind: 'inconsistent' })
    expect((await B.node!.checkpoints!.witness.state.get(A.origin))!.size).toBe(witnessed)
    const processed = join(A.dir, 'processed', 'reading-a.json')
    const args = ['verify', processed, '--receipt', saved, '--genesis', join(A.dir, 'genesis.json'), '--partner-genesis', join(B.dir, 'genesis.json'), '--partner-api', `http://127.0.0.1:${B.apiPort}`]
    const [offline, againstA, nativeOffline] = await Promise.all([
      cli(args),
      cli([...args, '--api', `http://127.0.0.1:${A.apiPort}`]),
      cli(['verify', processed, '--receipt', native, '--genesis', join(A.dir, 'genesis.json'), '--partner-genesis', join(B.dir, 'genesis.json')]),
    ])
    expect(offline.code, offline.stdout + offline.stderr).toBe(0)
    expect(againstA.code, againstA.stdout).toBe(1) // A's chain now has another block there: the rewrite shows
    expect(nativeOffline.code, nativeOffline.stdout).toBe(0)
    await B.node!.stop()
    const audit = await cli(['audit', '--partners', '--data-dir', B.dir])
    expect(audit.code, audit.stdout + audit.stderr).toBe(1)
    expect(audit.stdout).toContain(`EVIDENCE inconsistent from ${A.origin}`)
    expect(audit.stdout).toMatch(/entanglement: our checkpoint \d+ is in its block/)
  })
})
