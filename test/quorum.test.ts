// End to end (issue 18): a quorum network of four validators (threshold 3) as separate processes, made with
// `profichain init --consensus quorum`, talking real libp2p and storing in real LevelDB. Validators co-sign
// every canonical block and gossip their votes; a block with 3 distinct validator signatures is final.
// Nothing here asserts wall time: every wait polls with a generous deadline.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { configToml } from '@profichain/cli'
import { type Block, type BlockHeader, blockHash, createBlock, fromHex, generateKeyPair, type KeyPair, readKeyFile, signVote, toHex, voteForHeader, writeKeyFile } from '@profichain/core'
import { createGenesis, genesisHash, loadGenesis, QuorumConsensus, serializeGenesis } from '@profichain/consensus'
import { createNetwork, peerIdFromPublicKey } from '@profichain/network'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, CLI as CLI_PATH, gql as nodeGql, listFiles, readJson, type RunningNode, startNode, tempDir, waitFor } from './helpers.js'
import { gqlIn, type NetnsNode, startIn, stopAll, twoNamespaces } from './netns.js'

const BLOCK_MS = 500
const N = 4
const THRESHOLD = 3
const P2P = 21_000 + Math.floor(Math.random() * 400) * 10
const API = P2P + 5000

interface Validator {
  name: string
  dir: string
  api: string
  node?: RunningNode
  log: string
}

interface Status {
  height: number
  headHash: string
  finalHeight: number
  peers: number
}

let root: string
let net: string
const vs: Validator[] = []

const gql = <T>(v: Validator, query: string, variables: Record<string, unknown> = {}) => nodeGql<T>(v.api, query, variables, { timeoutMs: 5000 })

const status = async (v: Validator) => (await gql<{ status: Status }>(v, '{ status { height headHash finalHeight peers } }')).status
const hashAt = async (v: Validator, height: number) =>
  (await gql<{ block: { hash: string; final: boolean } | null }>(v, 'query($h: Int) { block(height: $h) { hash final } }', { h: height })).block

async function start(v: Validator): Promise<void> {
  v.node = await startNode(v.dir, 60_000)
}

/** SIGKILL (a crash, no clean stop) or SIGTERM (clean stop); keeps the output for post-mortems. */
async function stop(v: Validator, signal: NodeJS.Signals): Promise<void> {
  if (!v.node) return
  await v.node.stop(signal)
  v.log += v.node.output()
  v.node = undefined
}

const running = () => vs.filter((v) => v.node)

/** Wait until every running validator has finalHeight ≥ `min` and finality within two blocks of its head. */
async function finalFollowsHead(min: number, what: string): Promise<Status[]> {
  let last: Array<Status & { name: string }> = []
  return waitFor(
    what,
    async () => {
      const sts = await Promise.all(running().map(status))
      last = sts.map((s, i) => ({ ...s, name: running()[i]?.name ?? '?' }))
      return sts.every((s) => s.finalHeight >= min && s.finalHeight >= s.height - 2 && s.finalHeight <= s.height) && sts
    },
    90_000,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last (finalHeight ≥ ${min} wanted): ${last.map((s) => `${s.name} height ${s.height} final ${s.finalHeight} peers ${s.peers}`).join(', ')}`)
  })
}

describe('a quorum network made with init --consensus quorum', () => {
  beforeAll(async () => {
    root = await tempDir('quorum')
    net = join(root, 'net')
    const r = await cli(['init', '--consensus', 'quorum', '--validators', String(N), '--data-dir', net, '--network', 'qnet', '--p2p-port', String(P2P), '--api-port', String(API), '--block-time', String(BLOCK_MS)])
    expect(r.code, r.stderr).toBe(0)
    for (let i = 1; i <= N; i++) {
      const dir = join(net, `validator-${i}`)
      // Empty blocks keep the chain (and so finality) moving without records; files are picked up quickly.
      const toml = (await readFile(join(dir, 'config.toml'), 'utf8')).replace('empty_blocks = false', 'empty_blocks = true').replace('stable_ms = 500', 'stable_ms = 100')
      await writeFile(join(dir, 'config.toml'), toml)
      vs.push({ name: `validator-${i}`, dir, api: `http://127.0.0.1:${API + i - 1}`, log: '' })
    }
    await Promise.all(vs.map(start))
  }, 120_000)

  afterAll(async () => {
    for (const v of vs) {
      await stop(v, 'SIGKILL')
      await writeFile(join(v.dir, 'node.log'), v.log).catch(() => {})
    }
  })

  describe('init --consensus quorum', () => {
    it('writes one genesis with N validators and the threshold, and N data dirs that bootstrap from each other', async () => {
      const g = await readJson<{ validators: string[]; consensus: { type: string; threshold: number } }>(join(net, 'genesis.json'))
      expect(g.consensus).toMatchObject({ type: 'quorum', threshold: THRESHOLD })
      expect(g.validators).toHaveLength(N)
      for (const v of vs) {
        expect(await readFile(join(v.dir, 'genesis.json'), 'utf8')).toBe(await readFile(join(net, 'genesis.json'), 'utf8'))
        const toml = await readFile(join(v.dir, 'config.toml'), 'utf8')
        expect(toml.match(/\/p2p\/12D3/g)).toHaveLength(N - 1)
      }
      const unsafe = await cli(['init', '--consensus', 'quorum', '--validators', '4', '--threshold', '2', '--data-dir', join(root, 'unsafe')])
      expect(unsafe.code).toBe(2)
      expect(unsafe.stderr).toMatch(/threshold 2 is not safe for 4 validators/)
    })
  })

  describe('quorum network of 4 validators, threshold 3', () => {
    let finalBeforeRestart = 0
    let finalHashBeforeRestart = ''

    it('finalises blocks: finality follows the head on every validator', async () => {
      await finalFollowsHead(4, 'finality on all four validators')
      const s = await status(vs[0])
      const b = await hashAt(vs[0], s.finalHeight)
      expect(b?.final).toBe(true)
      // The same final block everywhere.
      for (const v of vs.slice(1)) expect((await hashAt(v, s.finalHeight))?.hash).toBe(b?.hash)
    })

    it('a receipt of a final block carries the signatures: verify --genesis says final', async () => {
      const v = vs[0]
      // A block can also become final only through a final descendant (its own votes split over a brief fork
      // at its height): then its header, and so its receipt, has fewer than 3 signatures and verify must say
      // "final: no". Records are dropped until one lands in a block that collected the threshold itself.
      const seen: string[] = []
      for (let i = 0; i < 6 && !seen.some((l) => l.startsWith('final: yes')); i++) {
        const name = `reading-${i}.json`
        await writeFile(join(v.dir, 'inbox', `${name}.tmp`), JSON.stringify({ press: 7, bar: 210 + i }))
        await rename(join(v.dir, 'inbox', `${name}.tmp`), join(v.dir, 'inbox', name))
        await waitFor('receipt file', async () => (await listFiles(join(v.dir, 'receipts'))).includes(`${name}.chp.json`), 60_000, 200)
        const file = join(v.dir, 'processed', name)
        const out = join(root, `${name}.receipt.json`)
        const first = await cli(['proof', '--api', v.api, '--file', file, '--format', 'native', '--out', out])
        expect(first.code, first.stderr).toBe(0)
        const { height } = await readJson<{ height: number }>(out)
        await waitFor('the record block is final', async () => (await status(v)).finalHeight >= height + 1, 60_000, 200)
        // Fetched again once final: the receipt carries every signature the node holds by now.
        const proof = await cli(['proof', '--api', v.api, '--file', file, '--format', 'native', '--out', out])
        expect(proof.code, proof.stderr).toBe(0)
        const verified = await cli(['verify', file, '--receipt', out, '--genesis', join(net, 'genesis.json')])
        expect(verified.code, verified.stdout + verified.stderr).toBe(0)
        const line = verified.stdout.split('\n').find((l) => l.startsWith('final: ')) ?? '(no final line)'
        expect(line).toMatch(/^final: (yes \([34]|no \([0-2]) of 4 validator signatures, threshold 3\)$/)
        seen.push(line)
      }
      expect(seen.some((l) => l.startsWith('final: yes')), seen.join('\n')).toBe(true)
    })

    it('one validator killed: blocks still become final', async () => {
      await stop(vs[3], 'SIGKILL')
      const before = Math.max(...(await Promise.all(running().map(status))).map((s) => s.finalHeight))
      await finalFollowsHead(before + 4, 'finality with three of four validators')
    })

    it('two validators killed: finality stalls (the head never falls below it) and resumes when one returns', async () => {
      await stop(vs[2], 'SIGKILL')
      // Votes already in flight may still finalise a block or two: wait until finalHeight has settled (the
      // same on both survivors over several block times), then watch it stay there.
      let settled = -1
      let same = 0
      await waitFor(
        'finalHeight settles with two validators',
        async () => {
          const sts = await Promise.all(running().map(status))
          const f = Math.max(...sts.map((s) => s.finalHeight))
          same = f === settled ? same + 1 : 0
          settled = f
          return same >= 8
        },
        60_000,
        BLOCK_MS,
      )
      const finalHash = (await hashAt(vs[0], settled))?.hash
      // Observation window of 10 block times: no new final block, the head never below the final block,
      // the final block never replaced.
      for (let i = 0; i < 10; i++) {
        for (const v of running()) {
          const s = await status(v)
          expect(s.finalHeight).toBe(settled)
          expect(s.height).toBeGreaterThanOrEqual(settled)
          expect((await hashAt(v, settled))?.hash).toBe(finalHash)
        }
        await new Promise((r) => setTimeout(r, BLOCK_MS))
      }
      await start(vs[2])
      await finalFollowsHead(settled + 3, 'finality resumes with validator-3 back')
      expect((await hashAt(vs[2], settled))?.hash).toBe(finalHash)
    })

    it('a restart of every node keeps the final height', async () => {
      await start(vs[3])
      const sts = await finalFollowsHead(1, 'all four back')
      finalBeforeRestart = Math.min(...sts.map((s) => s.finalHeight))
      finalHashBeforeRestart = (await hashAt(vs[0], finalBeforeRestart))?.hash ?? ''
      for (const v of vs) await stop(v, 'SIGTERM')
      // Started one at a time: each comes up alone first and must report its stored final height at once.
      for (const v of vs) {
        await start(v)
        const s = await status(v)
        expect(s.finalHeight).toBeGreaterThanOrEqual(finalBeforeRestart)
        expect((await hashAt(v, finalBeforeRestart))?.hash).toBe(finalHashBeforeRestart)
      }
      await finalFollowsHead(finalBeforeRestart + 3, 'finality after the restart')
    })
  })

  describe('equivocation and forged votes (a test-only libp2p client)', () => {
    /**
     * The test-only tool: a bare libp2p host with validator-4's key (the member allow-list admits it; its node
     * is stopped first), connected to validator-1, that publishes whatever votes it is given on the vote topic.
     */
    async function voteClient(keyOf: Validator, to: Validator) {
      const genesis = await loadGenesis(join(net, 'genesis.json'))
      const key = await readKeyFile(join(keyOf.dir, 'node.key'))
      const target = await readKeyFile(join(to.dir, 'node.key'))
      const p2p = Number((await readFile(join(to.dir, 'config.toml'), 'utf8')).match(/\[p2p\][^[]*?port = (\d+)/)?.[1])
      const client = createNetwork(
        {
          network: genesis.network,
          listen: ['/ip4/127.0.0.1/tcp/0'],
          bootstrap: [`/ip4/127.0.0.1/tcp/${p2p}/p2p/${peerIdFromPublicKey(target.publicKey)}`],
          members: genesis.members.map((m) => ({ publicKey: m.publicKey })),
        },
        {
          key,
          handlers: {
            headers: () => [],
            block: () => null,
            blocks: () => [],
            payloads: (ids) => ids.map(() => null),
            status: () => ({ height: 0, headHash: genesisHash(genesis), genesisHash: genesisHash(genesis) }),
          },
          originAllowed: () => false,
          onTxBatch: () => 'ignore',
          onBlock: () => 'ignore',
          onVote: () => 'ignore',
        } as Parameters<typeof createNetwork>[1],
      )
      await client.start()
      await waitFor('the vote client is connected', () => client.peers().length > 0, 30_000, 100)
      return { client, key, network: genesis.network }
    }

    const evidenceOf = async (v: Validator) =>
      (await gql<{ evidence: Array<{ validator: string; height: number; blockHashes: string[]; at: number | null }> }>(v, '{ evidence(first: 50) { validator height blockHashes at } }')).evidence

    /**
     * Make validator-4 equivocate for real: when the next height is its turn, seal two different empty blocks
     * on the current head with its key (an in-turn block beats the others' out-of-turn ones), publish both and
     * a vote for each. Both blocks get stored by the honest nodes, so the two votes are evidence.
     */
    async function equivocate(c: Awaited<ReturnType<typeof voteClient>>, to: Validator): Promise<{ height: number; hashes: string[]; sealed: Block[] }> {
      const genesis = await loadGenesis(join(net, 'genesis.json'))
      const q = new QuorumConsensus(genesis)
      const peer = peerIdFromPublicKey((await readKeyFile(join(to.dir, 'node.key'))).publicKey)
      const headers = new Map<string, BlockHeader>()
      const ctx = {
        ancestors: async (hash: Uint8Array, n: number) => {
          const out: BlockHeader[] = []
          for (let h = headers.get(toHex(hash)); h && out.length < n; h = headers.get(toHex(h.prevHash))) out.push(h)
          return out
        },
      }
      const r = await waitFor(
        'two blocks sealed by validator-4 at its turn',
        async () => {
          const s = await status(to)
          if (!q.isInTurn(s.height + 1, c.key.publicKey)) return false
          const got = await c.client.request(peer, { kind: 'headers', from: Math.max(0, s.height - 3), count: 4 })
          for (const h of got) headers.set(toHex(blockHash(h)), h)
          const parent = got[got.length - 1]
          if (!parent || parent.height !== s.height) return false
          const sealed: Block[] = []
          for (const dt of [0, 1]) {
            const b = createBlock({ network: genesis.network, height: parent.height + 1, timestamp: parent.timestamp + genesis.blockTimeMs + dt, prevHash: blockHash(parent), producer: c.key.publicKey, txs: [] })
            sealed.push(await q.seal(b, parent, c.key, ctx))
          }
          for (const b of sealed) await c.client.publishBlock(b)
          for (const b of sealed) await c.client.publishVote(voteForHeader(b.header, c.key))
          return { height: parent.height + 1, sealed }
        },
        60_000,
        50,
      )
      // Re-sent until seen (gossip may drop messages while the client's mesh forms).
      await waitFor(
        'evidence against validator-4',
        async () => {
          for (const b of r.sealed) await c.client.publishBlock(b)
          for (const b of r.sealed) await c.client.publishVote(voteForHeader(b.header, c.key))
          return (await evidenceOf(to)).some((e) => e.validator === toHex(c.key.publicKey))
        },
        60_000,
        500,
      )
      return { height: r.height, hashes: r.sealed.map((b) => toHex(blockHash(b.header))), sealed: r.sealed }
    }

    it('a validator that co-signs two blocks at one height is caught: evidence through the API', async () => {
      await stop(vs[3], 'SIGTERM')
      const c = await voteClient(vs[3], vs[0])
      let caught = { height: -1, hashes: [] as string[], sealed: [] as Block[] }
      try {
        caught = await equivocate(c, vs[0])
        const { height, hashes } = caught
        // Every honest node holds the evidence (the votes are relayed by vs[0], the client's only peer), naming
        // both blocks. Re-sent while waiting, as above: gossip may drop a relayed vote while meshes re-form.
        for (const v of running()) {
          const e = await waitFor(
            `evidence on ${v.name}`,
            async () => {
              const found = (await evidenceOf(v)).find((x) => x.validator === toHex(c.key.publicKey))
              if (found === undefined) {
                for (const b of caught.sealed) await c.client.publishBlock(b)
                for (const b of caught.sealed) await c.client.publishVote(voteForHeader(b.header, c.key))
              }
              return found
            },
            30_000,
            200,
          )
          expect(e.height).toBe(height)
          expect(new Set(e.blockHashes)).toEqual(new Set(hashes))
        }
        const metrics = await (await fetch(`${vs[0].api}/metrics`)).text()
        expect(metrics).toMatch(/^profichain_votes_equivocations_total [1-9]/m)
      } finally {
        await c.client.stop()
      }
      // audit of a stopped node names it (no store inconsistency, so exit 0).
      await stop(vs[2], 'SIGTERM')
      const audit = await cli(['audit', '--data-dir', vs[2].dir])
      expect(audit.code, audit.stdout + audit.stderr).toBe(0)
      expect(audit.stdout).toMatch(new RegExp(`^EQUIVOCATION validator ${toHex(c.key.publicKey)} co-signed two blocks at height ${caught.height}: `, 'm'))
      await start(vs[2])
      // Finality goes on with the three honest validators.
      const f = (await status(vs[0])).finalHeight
      await finalFollowsHead(f + 2, 'finality after the equivocation')
    })

    it('a forged vote (another validator\'s key, a signature that does not verify) is refused and adds nothing', async () => {
      const { client, key, network } = await voteClient(vs[3], vs[0])
      try {
        const victim = await readKeyFile(join(vs[1].dir, 'node.key'))
        const s = await status(vs[0])
        const h = s.height
        const target = fromHex((await hashAt(vs[0], h))?.hash ?? '')
        // validator-2's name on validator-4's signature: refused on the signature.
        const forged = { ...signVote(network, h, randomBytes(32), key), signer: victim.publicKey, blockHash: randomBytes(32) }
        const rejected = async () => {
          const text = await (await fetch(`${vs[0].api}/metrics`)).text()
          return [...text.matchAll(/^profichain_network_gossip_rejected_total\{[^}]*topic="vote"[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0)
        }
        const before = await rejected()
        // Refused on the signature and counted as a rejection (gossipsub penalises the sender for it).
        await waitFor(
          'the forged vote rejected',
          async () => {
            await client.publishVote(forged)
            await client.publishVote({ ...forged, blockHash: target })
            return (await rejected()) > before
          },
          30_000,
          300,
        )
        // A later honest block still finalises, and no evidence names validator-2 (its key was only forged).
        await finalFollowsHead(h + 2, 'finality after the forged votes')
        expect((await evidenceOf(vs[0])).some((e) => e.validator === toHex(victim.publicKey))).toBe(false)
      } finally {
        await client.stop()
      }
    })
  })
})

describe('devnet --consensus quorum', () => {
  it('starts N validators as separate processes whose blocks become final', async () => {
    const dir = join(await tempDir('quorum-devnet'), 'qnet')
    const child = spawn(process.execPath, [CLI_PATH, 'devnet', '--dir', dir, '--consensus', 'quorum', '--validators', '4', '--thin', '1', '--block-time', String(BLOCK_MS), '--p2p-port', String(P2P + 100), '--api-port', String(API + 100)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout?.on('data', (d) => {
      out += d
    })
    child.stderr?.on('data', (d) => {
      out += d
    })
    const exited = new Promise((r) => child.once('exit', r))
    try {
      const info = await waitFor(
        'devnet.json',
        async () => {
          if (child.exitCode !== null) throw new Error(`devnet exited:\n${out}`)
          return JSON.parse(await readFile(join(dir, 'devnet.json'), 'utf8')) as { nodes: Array<{ name: string; type: string; api: string; inbox: string; pid: number }> }
        },
        90_000,
        200,
      )
      expect(info.nodes.map((n) => `${n.name}:${n.type}`)).toEqual(['validator-1:full', 'validator-2:full', 'validator-3:full', 'validator-4:full', 'thin-1:thin'])
      expect(new Set(info.nodes.map((n) => n.pid)).size).toBe(5)
      const g = await readJson<{ validators: string[]; consensus: { type: string; threshold: number } }>(join(dir, 'genesis.json'))
      expect(g.consensus).toMatchObject({ type: 'quorum', threshold: 3 })
      expect(g.validators).toHaveLength(4)
      // Records from the thin node, one a second like a device would write them: blocks become final on
      // every node. (One record alone is not enough: after an idle spell every validator may seal the same
      // height at once, and votes split over those blocks never reach the threshold; a later block's do.)
      const thin = info.nodes[4]
      const nodes = info.nodes.map((n) => ({ name: n.name, dir: '', api: n.api, log: '' }) satisfies Validator)
      let i = 0
      await waitFor(
        'records final everywhere',
        async () => {
          await writeFile(join(thin.inbox, `r${i}.json.tmp`), JSON.stringify({ i }))
          await rename(join(thin.inbox, `r${i}.json.tmp`), join(thin.inbox, `r${i++}.json`))
          return (await Promise.all(nodes.map(status))).every((s) => s.height >= 1 && s.finalHeight >= 1)
        },
        90_000,
        1000,
      )
    } finally {
      child.kill('SIGTERM')
      await exited
    }
  })
})

// Partition 2|2 (network namespaces joined by a veth pair, as in test/partition.test.ts; needs root): with
// threshold 3 neither half can finalise; after the heal there is one chain and no final block was lost.
const split = twoNamespaces('pq', 232, 'quorum partition test')
const { ip: IP, setLink } = split
const netnsOk = split.ok

interface PMember extends NetnsNode {
  key: KeyPair
  p2p: number
  api: number
}

const pm: PMember[] = []

/** A GraphQL query from inside the member's namespace (its API listens on that namespace's loopback). */
const pgql = <T>(m: PMember, query: string, variables: Record<string, unknown> = {}): T => gqlIn<T>(split, m.side, m.api, query, variables)
const pstatus = (m: PMember) => pgql<{ status: Status }>(m, '{ status { height headHash finalHeight peers } }').status
const phash = (m: PMember, h: number) => pgql<{ block: { hash: string } | null }>(m, 'query($h: Int) { block(height: $h) { hash } }', { h }).block?.hash

describe.skipIf(!netnsOk)('quorum partition 2|2 (network namespaces)', () => {
  beforeAll(async () => {
    const proot = await tempDir('quorum-partition')
    const base = 7500 + Math.floor(Math.random() * 100) * 4
    for (const [i, side] of (['A', 'A', 'B', 'B'] as const).entries()) {
      pm.push({ name: `pv${i + 1}`, side, key: generateKeyPair(), p2p: base + i, api: base + 1000 + i, dir: join(proot, `pv${i + 1}`), out: '' })
    }
    const genesis = createGenesis({
      network: 'qpart',
      validators: pm.map((m) => m.key),
      members: pm.map((m) => ({ name: m.name, publicKey: toHex(m.key.publicKey), roles: ['validator', 'producer', 'full'], addrs: [`/ip4/${IP[m.side]}/tcp/${m.p2p}`] })),
      consensus: { type: 'quorum', threshold: THRESHOLD },
      blockTimeMs: BLOCK_MS,
    })
    for (const m of pm) {
      await mkdir(join(m.dir, 'inbox'), { recursive: true })
      await writeKeyFile(join(m.dir, 'node.key'), m.key)
      await writeFile(join(m.dir, 'genesis.json'), serializeGenesis(genesis))
      const bootstrap = pm.filter((o) => o !== m).map((o) => `/ip4/${IP[o.side]}/tcp/${o.p2p}/p2p/${peerIdFromPublicKey(o.key.publicKey)}`)
      const toml = configToml({ type: 'full', p2pPort: m.p2p, apiPort: m.api, bootstrap, lineMode: false })
        .replace(`host = "127.0.0.1"\nport = ${m.p2p}`, `host = "${IP[m.side]}"\nport = ${m.p2p}`)
        .replace('empty_blocks = false', 'empty_blocks = true')
      await writeFile(join(m.dir, 'config.toml'), toml)
    }
    await Promise.all(pm.map((m) => startIn(split, m)))
  }, 120_000)

  afterAll(() => stopAll(split, pm))

  it('neither side finalises while cut off; after the heal one chain and nothing final lost', async () => {
    await waitFor('finality on all four before the cut', () => pm.map(pstatus).every((s) => s.finalHeight >= 3 && s.finalHeight >= s.height - 2), 90_000, 300)
    setLink(false)
    // Votes in flight may finalise one more block: wait until each side's finalHeight has settled.
    let settled: number[] = []
    let same = 0
    await waitFor(
      'finalHeight settles on both sides',
      () => {
        const f = pm.map((m) => pstatus(m).finalHeight)
        same = f.every((x, i) => x === settled[i]) ? same + 1 : 0
        settled = f
        return same >= 6
      },
      60_000,
      BLOCK_MS,
    )
    const top = Math.max(...settled)
    const finalHashes = pm.map((m, i) => phash(m, settled[i]))
    // Observation window of 8 block times on both sides: no side finalises anything new.
    for (let i = 0; i < 8; i++) {
      pm.forEach((m, j) => expect(pstatus(m).finalHeight).toBe(settled[j]))
      await new Promise((r) => setTimeout(r, BLOCK_MS))
    }
    setLink(true)
    await waitFor(
      'one chain, finalising again, after the heal',
      () => {
        const sts = pm.map(pstatus)
        return sts.every((s) => s.headHash === sts[0].headHash && s.finalHeight >= top + 2) && sts
      },
      120_000,
      500,
    )
    // Every block that was final on either side is still the block at that height everywhere.
    pm.forEach((m, i) => {
      for (const o of pm) expect(phash(o, settled[i])).toBe(finalHashes[i])
    })
  })
})
