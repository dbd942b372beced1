// Block log, checkpoints and witnesses end to end (DESIGN §11, issue 13 items 1-3, 6-7): two networks A and B
// created with the real CLI, run as in-process nodes over real HTTP, witness each other; GET /checkpoint verifies
// with the vkeys `profichain checkpoint --vkeys` prints; proofs between served checkpoints verify; every
// add-checkpoint status code over HTTP; evidence on a fork; witness state survives a restart.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createNode, loadConfig, type ProfichainNode } from '@profichain/node'
import { fromHex, readKeyFile } from '@profichain/core'
import {
  consistencyProof,
  formatAddCheckpoint,
  formatCheckpoint,
  leafHash,
  memorySubtree,
  openNote,
  parseCheckpoint,
  parseNote,
  parseVkey,
  rootOf,
  signNote,
  verifyConsistency,
  verifyCosignature,
  verifyInclusion,
  parseOutsideWitness,
  writePartnersFile,
  writeWitnessesFile,
} from '@profichain/global'
import { Level } from 'level'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { cli, portBase, tempDir, waitFor } from './helpers.js'

const ORIGIN_A = 'a.example/profichain/plant-a'
const ORIGIN_B = 'b.example/profichain/plant-b'
const running: ProfichainNode[] = []

afterAll(async () => {
  for (const n of running) await n.stop().catch(() => undefined)
})

async function initNet(root: string, name: string, origin: string): Promise<string> {
  const dir = join(root, name)
  const r = await cli(['init', '--data-dir', dir, '--network', `net-${name}`, '--origin', origin, '--block-time', '200', '--api-port', '0', '--p2p-port', '0'])
  expect(r.code, r.stderr).toBe(0)
  // Checkpoints every 300 ms, 2 blocks deep: set before the first start (the genesis is part of the identity).
  const gPath = join(dir, 'genesis.json')
  const g = JSON.parse(await readFile(gPath, 'utf8'))
  expect(g.origin).toBe(origin)
  g.checkpoint = { depth: 2, intervalMs: 300 }
  await writeFile(gPath, JSON.stringify(g, null, 2))
  return dir
}

async function start(dir: string, network = false): Promise<ProfichainNode> {
  const config = await loadConfig(join(dir, 'config.toml'))
  config.enabled.network = network
  config.enabled.ingest = false
  config.producer.empty_blocks = true
  const node = await createNode({ config, logger: pino({ level: 'silent' }) })
  await node.start()
  running.push(node)
  return node
}

const url = (n: ProfichainNode) => n.api?.address()?.url as string

async function getCheckpoint(n: ProfichainNode): Promise<string | undefined> {
  const res = await fetch(`${url(n)}/checkpoint`)
  if (res.status === 404) return undefined
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
  return res.text()
}

async function post(n: ProfichainNode, body: string): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`${url(n)}/add-checkpoint`, { method: 'POST', body })
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() }
}

describe('block log checkpoints and witnesses', () => {
  it('serve verifiable checkpoints, cosigned by a partner acting as outside witness; every witness status code over HTTP', async () => {
    const root = await tempDir('checkpoint')
    const [dirA, dirB] = await Promise.all([initNet(root, 'a', ORIGIN_A), initNet(root, 'b', ORIGIN_B)])
    const vk = async (dir: string, flag: string) => {
      const r = await cli(['checkpoint', '--data-dir', dir, flag])
      expect(r.code, r.stderr).toBe(0)
      return r.stdout.trim().split('\n')
    }
    const [vkeysA, vkeysB, [witnessA], [witnessB]] = await Promise.all([
      vk(dirA, '--vkeys'),
      vk(dirB, '--vkeys'),
      vk(dirA, '--witness-vkey'),
      vk(dirB, '--witness-vkey'),
    ])
    expect(vkeysA).toHaveLength(1)
    expect(vkeysA[0]).toMatch(/^a\.example\/profichain\/plant-a\+[0-9a-f]{8}\+/)
    // Each network witnesses the other.
    await writePartnersFile(dirB, [{ name: 'a', origin: ORIGIN_A, vkeys: vkeysA, threshold: 1 }])
    await writePartnersFile(dirA, [{ name: 'b', origin: ORIGIN_B, vkeys: vkeysB, threshold: 1 }])
    const a = await start(dirA)
    let b = await start(dirB)
    const cosignedByB: string[] = []
    b.checkpoints?.on('cosigned', (e) => cosignedByB.push(e.origin))
    // Each asks the other as an outside witness (the real CLI writes witnesses.json; nodes read it every round).
    for (const [dir, other, wv] of [[dirA, b, witnessB], [dirB, a, witnessA]] as const) {
      const r = await cli(['witness', 'add', '--data-dir', dir, '--url', url(other), '--vkey', wv])
      expect(r.code, r.stderr).toBe(0)
    }
    const listed = await cli(['witness', 'list', '--data-dir', dirA])
    expect(listed.stdout).toContain(url(b))

    // A's checkpoint, verified with the vkeys the CLI printed and carrying B's cosignature.
    const verifiersA = vkeysA.map(parseVkey)
    const cosignerB = parseVkey(witnessB)
    const first = await waitFor('A checkpoint cosigned by B', async () => {
      const note = await getCheckpoint(a)
      if (!note) return undefined
      const cos = parseNote(note).signatures.filter((s) => s.name === cosignerB.name && s.keyId === cosignerB.keyId)
      return cos.length === 1 ? note : undefined
    }, 30_000)
    const opened = openNote(first, verifiersA)
    expect(opened.verified).toHaveLength(1)
    const cp1 = parseCheckpoint(opened.text)
    expect(cp1.origin).toBe(ORIGIN_A)
    expect(cp1.size).toBeGreaterThan(0)
    const cosLine = parseNote(first).signatures.find((s) => s.name === cosignerB.name) as { line: string }
    expect(verifyCosignature(cosLine.line, opened.text, cosignerB).timestamp).toBeGreaterThan(0)
    expect(cosignedByB).toContain(ORIGIN_A)
    // The same from a running node's API through the CLI.
    const printed = await cli(['checkpoint', '--api', url(a)])
    expect(printed.code, printed.stderr).toBe(0)
    expect(openNote(printed.stdout, verifiersA).verified).toHaveLength(1)

    // Sizes grow; a consistency proof between the two served checkpoints verifies; inclusion of block 1 too.
    const second = await waitFor('a larger checkpoint', async () => {
      const note = await getCheckpoint(a)
      return note && parseCheckpoint(openNote(note, verifiersA).text).size > cp1.size + 1 ? note : undefined
    }, 30_000)
    const cp2 = parseCheckpoint(openNote(second, verifiersA).text)
    const pr = (await (await fetch(`${url(a)}/checkpoint/proof?old=${cp1.size}&new=${cp2.size}`)).json()) as { proof: string[]; oldRoot: string; newRoot: string }
    expect(verifyConsistency(cp1.size, cp2.size, cp1.root, cp2.root, pr.proof.map(fromHex))).toBe(true)
    expect(verifyConsistency(cp1.size, cp2.size, cp2.root, cp1.root, pr.proof.map(fromHex))).toBe(false)
    const inc = (await (await fetch(`${url(a)}/blocklog/inclusion?height=1&size=${cp2.size}`)).json()) as { blockHash: string; proof: string[] }
    const block1 = await a.tree.getHashAtHeight(1)
    expect(inc.blockHash).toBe(Buffer.from(block1 as Uint8Array).toString('hex'))
    expect(verifyInclusion(1, cp2.size, leafHash(block1 as Uint8Array), inc.proof.map(fromHex), cp2.root)).toBe(true)
    expect((await fetch(`${url(a)}/checkpoint/proof?old=0&new=${cp2.size}`)).status).toBe(400)
    expect((await fetch(`${url(a)}/blocklog/inclusion?height=${cp2.size}&size=${cp2.size}`)).status).toBe(400)
    // B is cosigned by A as well (both directions).
    await waitFor('B checkpoint cosigned by A', async () => {
      const note = await getCheckpoint(b)
      return note && parseNote(note).signatures.some((s) => s.name === ORIGIN_A) && openNote(note, vkeysB.map(parseVkey)).verified.length === 1
    }, 30_000)

    // Witness endpoint on B, every status code over real HTTP.
    const keyA = await readKeyFile(join(dirA, 'node.key'))
    const stateA = await waitFor('B state for A', () => b.checkpoints?.witness.state.get(ORIGIN_A), 10_000)
    const leaves = Array.from({ length: stateA.size + 5 }, (_, i) => leafHash(new Uint8Array(32).fill(i + 1)))
    const signed = (origin: string, size: number, key = keyA, ls = leaves) =>
      signNote(formatCheckpoint({ origin, size, root: rootOf(ls.slice(0, size)), extensions: [] }), [{ name: origin, keyPair: key }])
    expect((await post(b, 'old 0\n\nnot a checkpoint\n')).status).toBe(400)
    expect((await post(b, formatAddCheckpoint({ oldSize: 0, proof: [], note: signed('c.example/unknown', 3) }))).status).toBe(404)
    const keyB = await readKeyFile(join(dirB, 'node.key'))
    expect((await post(b, formatAddCheckpoint({ oldSize: 0, proof: [], note: signed(ORIGIN_A, 3, keyB) }))).status).toBe(403)
    const replay = await post(b, formatAddCheckpoint({ oldSize: 0, proof: [], note: signed(ORIGIN_A, 3) }))
    expect(replay.status).toBe(409)
    expect(replay.type).toBe('text/x.tlog.size')
    expect(Number(replay.body.trim())).toBeGreaterThanOrEqual(stateA.size)
    // A forged history signed with A's own key (A rewrote its chain): inconsistent with what B cosigned → 422 + evidence.
    const now = (await b.checkpoints?.witness.state.get(ORIGIN_A)) as typeof stateA
    const forgedNote = signed(ORIGIN_A, now.size + 3)
    const badProof = await consistencyProof(now.size, now.size + 3, memorySubtree(leaves))
    const forged = await post(b, formatAddCheckpoint({ oldSize: now.size, proof: badProof, note: forgedNote }))
    expect(forged.status).toBe(422)
    expect((await fetch(`${url(b)}/add-checkpoint`)).status).toBe(405)
    const evidence = await b.checkpoints?.witness.evidence.list(ORIGIN_A)
    expect(evidence?.map((e) => e.offered)).toContain(forgedNote)
    expect((await b.checkpoints?.witness.state.get(ORIGIN_A))?.size).toBeGreaterThanOrEqual(now.size)
    const metrics = await (await fetch(`${url(b)}/metrics`)).text()
    for (const code of ['400', '403', '404', '409', '422'])
      expect(metrics).toMatch(new RegExp(`profichain_witness_refused_total\\{code="${code}"\\} [1-9]`))
    expect(metrics).toMatch(/profichain_witness_cosigned_total\{code="200"\} [1-9]/)
    expect(metrics).toMatch(/profichain_witness_evidence_total [1-9]/)

    // GraphQL: checkpoint with cosignatures (A), partners with what was cosigned and the evidence (B).
    const gql = async (n: ProfichainNode, query: string) => {
      const res = await fetch(`${url(n)}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) })
      const j = (await res.json()) as { data: Record<string, unknown>; errors?: unknown }
      expect(j.errors).toBeUndefined()
      return j.data
    }
    const qa = (await gql(a, '{ checkpoint { origin size root note cosignatures { witness timestamp } } }')).checkpoint as { origin: string; size: number; cosignatures: Array<{ witness: string }> }
    expect(qa.origin).toBe(ORIGIN_A)
    expect(qa.size).toBeGreaterThanOrEqual(cp2.size)
    const qb = await gql(b, `{ partners { name origin threshold witnessed { size } } witnessEvidence(origin: "${ORIGIN_A}") { origin kind offered } }`)
    expect(qb.partners).toEqual([{ name: 'a', origin: ORIGIN_A, threshold: 1, witnessed: { size: expect.any(Number) } }])
    expect((qb.witnessEvidence as Array<{ offered: string }>).map((e) => e.offered)).toContain(forgedNote)

    // B restarts: its witness state for A survives, and it keeps cosigning A's growing log.
    const before = (await b.checkpoints?.witness.state.get(ORIGIN_A))?.size as number
    await b.stop()
    b = await start(dirB)
    expect((await b.checkpoints?.witness.state.get(ORIGIN_A))?.size).toBeGreaterThanOrEqual(before)
    expect(await b.checkpoints?.witness.evidence.list(ORIGIN_A)).toHaveLength(evidence?.length as number)
    // B listens on a new port now (api port 0): point A at it.
    await writeWitnessesFile(dirA, [parseOutsideWitness({ url: url(b), vkey: witnessB })])
    await waitFor('A cosigned again by the restarted B', async () => ((await b.checkpoints?.witness.state.get(ORIGIN_A))?.size ?? 0) > before, 30_000)
  }, 60_000)

  it('several validators gossip their checkpoint signatures into one note that carries them all', async () => {
    const root = await tempDir('checkpoint-q')
    const base = portBase()
    const r = await cli(['init', '--consensus', 'quorum', '--validators', '2', '--data-dir', root, '--network', 'qnet', '--origin', 'q.example/profichain/q',
      '--block-time', '200', '--p2p-port', String(base), '--api-port', String(base + 100)])
    expect(r.code, r.stderr).toBe(0)
    const dirs = [join(root, 'validator-1'), join(root, 'validator-2')]
    for (const d of dirs) {
      const g = JSON.parse(await readFile(join(d, 'genesis.json'), 'utf8'))
      g.checkpoint = { depth: 2, intervalMs: 300 }
      await writeFile(join(d, 'genesis.json'), JSON.stringify(g, null, 2))
    }
    const vkeys = (await cli(['checkpoint', '--data-dir', dirs[0], '--vkeys'])).stdout.trim().split('\n').map(parseVkey)
    expect(vkeys).toHaveLength(2)
    const nodes = await Promise.all(dirs.map((d) => start(d, true)))
    // Each validator serves a checkpoint signed by both (one co-signed what the other gossiped).
    for (const n of nodes) {
      await waitFor('a checkpoint signed by both validators', async () => {
        const note = await getCheckpoint(n)
        return note && openNote(note, vkeys).verified.length === 2 && parseCheckpoint(openNote(note, vkeys).text).size > 1
      }, 30_000)
    }
    for (const n of nodes) await n.stop()
  }, 40_000)

  it('refuses an old (layout 1) data dir at start with what to do', async () => {
    const root = await tempDir('checkpoint-old')
    const dir = await initNet(root, 'old', 'old.example/p')
    const n = await start(dir)
    await n.stop()
    running.splice(running.indexOf(n), 1)
    // What layout 1 looked like to this version: no layout version stored (and block 0 of another identity).
    const db = new Level<string, Uint8Array>(join(dir, 'db'), { valueEncoding: 'view' })
    await db.del('!z!schema')
    await db.close()
    const err = await start(dir).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_STORE_LAYOUT' })
    expect((err as Error).message).toMatch(/layout version 1.*reads layout 3 \(and upgrades layout 2\) only.*fresh data dir.*profichain init/s)
  })

  it('a validator whose block log was changed under its signed checkpoint refuses to sign and reports CHECKPOINT_FAILING', async () => {
    const root = await tempDir('checkpoint-tamper')
    const dir = await initNet(root, 't', 't.example/p')
    let n = await start(dir)
    const first = await waitFor('a checkpoint of size ≥ 2', async () => {
      const note = await getCheckpoint(n)
      return note && parseCheckpoint(parseNote(note).text).size >= 2 ? note : undefined
    }, 20_000)
    await n.stop()
    running.splice(running.indexOf(n), 1)
    const printed = await cli(['checkpoint', '--data-dir', dir])
    expect(printed.code, printed.stderr).toBe(0)
    const stored = printed.stdout
    // Overwrite every stored subtree hash over leaf 0 (key: u8 level ‖ u64 index 0), as a rewritten history would.
    const db = new Level<Uint8Array, Uint8Array>(join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' })
    const sub = db.sublevel<Uint8Array, Uint8Array>('g', { keyEncoding: 'view', valueEncoding: 'view' })
    let changed = 0
    for (let level = 0; level < 32; level++) {
      const key = new Uint8Array([level, 0, 0, 0, 0, 0, 0, 0, 0])
      if ((await sub.get(key)) === undefined) continue
      await sub.put(key, new Uint8Array(32).fill(7))
      changed++
    }
    expect(changed).toBeGreaterThanOrEqual(2)
    await db.close()
    n = await start(dir)
    const health = await waitFor('CHECKPOINT_FAILING', async () => {
      const res = await fetch(`${url(n)}/healthz`)
      const body = (await res.json()) as { problems?: Array<{ code: string }> }
      return res.status === 503 && body.problems?.some((p) => p.code === 'CHECKPOINT_FAILING') ? body : undefined
    }, 20_000)
    expect(health).toBeDefined()
    // Nothing new was signed: the served checkpoint is still the last one signed before the change.
    expect(await getCheckpoint(n)).toBe(stored)
    expect(parseCheckpoint(parseNote(stored).text).size).toBeGreaterThanOrEqual(parseCheckpoint(parseNote(first).text).size)
  })
})
