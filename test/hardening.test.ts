// End to end (issue 10): what a full node does when a receipt cannot be written, after a power cut and
// when the disk is full. Real `profichain` processes, real files, LevelDB on disk, a real full tmpfs.
import { execFileSync } from 'node:child_process'
import { mkdir, open, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cli, exists, listFiles, portBase, type RunningNode, startNode, tempDir, waitFor } from './helpers.js'

const running: RunningNode[] = []
const mounts: string[] = []
afterAll(async () => {
  for (const n of running) await n.stop('SIGKILL')
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m])
    } catch {
      // already gone
    }
  }
})

interface TestNode {
  dir: string
  api: string
}

/** `profichain init` a full node (in `parent` if given) with fast file stability, on random ports. */
async function initNode(name: string, parent?: string): Promise<TestNode> {
  const dir = join(parent ?? (await tempDir(name)), 'node')
  const base = portBase()
  const r = await cli(['init', '--type', 'full', '--data-dir', dir, '--p2p-port', String(base), '--api-port', String(base + 1)])
  expect(r.code, r.stderr).toBe(0)
  const cfg = join(dir, 'config.toml')
  await writeFile(cfg, (await readFile(cfg, 'utf8')).replace('stable_ms = 500', 'stable_ms = 200'))
  return { dir, api: `http://127.0.0.1:${base + 1}` }
}

async function healthz(api: string): Promise<{ code: number; body: { status: string; problems?: Array<{ code: string; message: string }> } }> {
  const res = await fetch(`${api}/healthz`)
  return { code: res.status, body: (await res.json()) as { status: string; problems?: Array<{ code: string; message: string }> } }
}

async function receipts(dir: string): Promise<string[]> {
  return (await listFiles(join(dir, 'receipts'))).filter((f) => f.endsWith('.chp.json'))
}

describe('hardening: receipts, power cut, disk full', () => {
  it('a receipt that cannot be written is retried alone; later receipts and long names go on (item 1)', async () => {
    const n = await initNode('receipt-block')
    // receipts/blocked is a file, so receipts/blocked/a.txt.chp.json cannot be written (ENOTDIR).
    await mkdir(join(n.dir, 'receipts'), { recursive: true })
    await writeFile(join(n.dir, 'receipts', 'blocked'), 'not a folder')
    const node = await startNode(n.dir)
    running.push(node)
    await mkdir(join(n.dir, 'inbox', 'blocked'), { recursive: true })
    await writeFile(join(n.dir, 'inbox', 'blocked', 'a.txt'), 'first, blocked')
    await waitFor('blocked file processed', () => exists(join(n.dir, 'processed', 'blocked', 'a.txt')), 60_000)
    // A name of 250 bytes: its receipt name must still be writable.
    const long = `${'x'.repeat(246)}.txt`
    await writeFile(join(n.dir, 'inbox', long), 'long name')
    for (let i = 0; i < 5; i++) await writeFile(join(n.dir, 'inbox', `b-${i}.txt`), `later ${i}`)
    await waitFor('receipts of the later files', async () => (await receipts(n.dir)).filter((f) => f.startsWith('b-')).length === 5, 60_000)
    await waitFor('a receipt for the long name', async () => (await receipts(n.dir)).some((f) => f.startsWith('xxxxxxxx')), 60_000)
    const degraded = await waitFor('healthz degraded', async () => {
      const h = await healthz(n.api)
      return h.code === 503 && h.body.problems?.some((p) => p.code === 'RECEIPTS_FAILING') ? h : undefined
    }, 30_000)
    expect(degraded.body.status).toBe('degraded')
    const metrics = await (await fetch(`${n.api}/metrics`)).text()
    expect(metrics).toMatch(/profichain_receipts_failed_total [1-9]/)

    // A restart does not hide it: the audit of the stopped node lists the pending receipt ...
    expect(await node.stop('SIGTERM')).toBe(0)
    const audit = await cli(['audit', '--data-dir', n.dir, '--json'])
    expect(audit.code, audit.stderr).toBe(0)
    const pending = (JSON.parse(audit.stdout) as { deferredReceipts: Array<{ txId: string; code: string }> }).deferredReceipts
    expect(pending).toHaveLength(1)
    const text = await cli(['audit', '--data-dir', n.dir])
    expect(text.stdout).toMatch(/RECEIPT PENDING tx [0-9a-f]{64}/)
    // ... and the restarted node is degraded again until it can write it.
    const again = await startNode(n.dir)
    running.push(again)
    await waitFor('healthz degraded after restart', async () => (await healthz(n.api)).code === 503, 30_000)
    const status = await cli(['status', '--api', n.api])
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/health\s+degraded/)
    expect(status.stdout).toMatch(/problem\s+RECEIPTS_FAILING: 1 receipt/)

    // Room for it again: the parked receipt is written by itself and the node is healthy.
    await rm(join(n.dir, 'receipts', 'blocked'))
    await waitFor('the parked receipt', () => exists(join(n.dir, 'receipts', 'blocked', 'a.txt.chp.json')), 90_000, 250)
    await waitFor('healthz ready', async () => (await healthz(n.api)).code === 200, 30_000)
    expect(await again.stop('SIGTERM')).toBe(0)
  })

  it('says loudly at start that acknowledged blocks are gone after a power cut (item 4)', async () => {
    const n = await initNode('power-cut')
    let node = await startNode(n.dir)
    running.push(node)
    for (let i = 0; i < 20; i++) await writeFile(join(n.dir, 'inbox', `m-${i}.txt`), `measurement ${i}`)
    await waitFor('20 receipts', async () => (await receipts(n.dir)).length === 20, 60_000)
    await node.stop('SIGKILL')
    // What a power cut does to data LevelDB had not yet put into a table file: the write-ahead log is cut.
    const db = join(n.dir, 'db')
    const logs = (await readdir(db)).filter((f) => f.endsWith('.log'))
    expect(logs.length).toBeGreaterThan(0)
    for (const f of logs) await truncate(join(db, f), 0)

    node = await startNode(n.dir)
    running.push(node)
    expect(node.output()).toMatch(/DATA LOSS SUSPECTED/)
    const h = await healthz(n.api)
    expect(h.code).toBe(503)
    expect(h.body.problems?.map((p) => p.code)).toEqual(expect.arrayContaining([expect.stringMatching(/^(HEAD_BEHIND_ACK|ACK_BLOCK_REPLACED)$/)]))
    expect(await node.stop('SIGTERM')).toBe(0)
    // A restart does not hide it, and the audit fails.
    node = await startNode(n.dir)
    running.push(node)
    expect(node.output()).toMatch(/DATA LOSS SUSPECTED/)
    expect(await node.stop('SIGTERM')).toBe(0)
    const audit = await cli(['audit', '--data-dir', n.dir])
    expect(audit.code, audit.stdout + audit.stderr).not.toBe(0)
  })

  it('reports degraded while the disk is full and recovers by itself once space is back (item 5)', async () => {
    const parent = await tempDir('disk-full')
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', parent])
    } catch (err) {
      throw new Error(`this test needs root to mount a small tmpfs (it fills a real disk): ${String(err)}`)
    }
    mounts.push(parent)
    const n = await initNode('disk-full', parent)
    const node = await startNode(n.dir)
    running.push(node)
    await writeFile(join(n.dir, 'inbox', 'before.txt'), 'before the disk filled up')
    await waitFor('first receipt', async () => (await receipts(n.dir)).length === 1, 60_000)

    // Files written while there was space, hidden (dotfiles are ignored) until the disk is full.
    for (let i = 0; i < 5; i++) await writeFile(join(n.dir, 'inbox', `.during-${i}.txt`), `during ${i}`)
    // Fill the disk to the last byte.
    const filler = join(parent, 'filler.bin')
    const fh = await open(filler, 'w')
    const chunk = Buffer.alloc(1 << 20, 7)
    for (const size of [chunk.length, 4096, 1]) {
      try {
        for (;;) await fh.write(chunk.subarray(0, size))
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC')
      }
    }
    await fh.close()
    // A rename needs no free blocks: the files appear in the inbox while nothing can be written.
    for (let i = 0; i < 5; i++) await rename(join(n.dir, 'inbox', `.during-${i}.txt`), join(n.dir, 'inbox', `during-${i}.txt`))
    const degraded = await waitFor('healthz degraded', async () => {
      const h = await healthz(n.api)
      return h.code === 503 ? h : undefined
    }, 60_000, 250)
    expect(degraded.body.status).toBe('degraded')
    expect(JSON.stringify(degraded.body.problems)).toMatch(/DISK_FULL|ENOSPC/)
    expect((await listFiles(join(n.dir, 'rejected'))).filter((f) => f.includes('during-'))).toEqual([])

    await rm(filler)
    for (let i = 0; i < 5; i++) await writeFile(join(n.dir, 'inbox', `after-${i}.txt`), `after ${i}`)
    const want = 1 + 5 + 5
    // On a timeout the node's own account is what tells why (the tmpfs and its logs are gone after the test).
    const explained = async <T>(wait: Promise<T>): Promise<T> => {
      try {
        return await wait
      } catch (err) {
        const left = { inbox: await listFiles(join(n.dir, 'inbox')), receipts: await receipts(n.dir), health: await healthz(n.api).catch(String) }
        throw new Error(`${(err as Error).message}\n${JSON.stringify(left)}\nnode output (tail):\n${node.output().slice(-6000)}`)
      }
    }
    await explained(waitFor(`${want} receipts after space came back`, async () => (await receipts(n.dir)).length === want, 120_000, 250))
    await explained(waitFor('healthz ready', async () => (await healthz(n.api)).code === 200, 60_000, 250))
    expect(await node.stop('SIGTERM')).toBe(0)
  })

  it('refuses to start on a data dir whose genesis was changed (item 14)', async () => {
    const n = await initNode('drift')
    const node = await startNode(n.dir)
    running.push(node)
    expect(await node.stop('SIGTERM')).toBe(0)
    const path = join(n.dir, 'genesis.json')
    const g = JSON.parse(await readFile(path, 'utf8')) as { blockTimeMs: number }
    g.blockTimeMs += 1000
    await writeFile(path, JSON.stringify(g, null, 2))
    const r = await cli(['start', '--data-dir', n.dir], { timeoutMs: 60_000 })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/blockTimeMs/)
  })
})
