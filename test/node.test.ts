// End to end (issue 4): the real `profichain` command, a real node process, real files, LevelDB on disk.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { afterAll, describe, expect, it } from 'vitest'
import { parse as chainpointParse } from 'chainpoint-parse'
import { validate as chainpointValidate } from 'chainpoint-proof-json-schema'
import { readLineReceipts } from '@profichain/ingest'
import { cli, exists, listFiles, portBase, readJson, type RunningNode, startNode, tempDir, waitFor } from './helpers.js'

const running: RunningNode[] = []
afterAll(async () => {
  for (const n of running) await n.stop('SIGKILL')
})

function ports(): { p2p: number; api: number } {
  const base = portBase()
  return { p2p: base, api: base + 1 }
}

/** init a full node and tune its config for tests (small max file size, line mode, fast stability). */
async function initNode(name: string, extra: (toml: string) => string = (t) => t): Promise<string> {
  const dir = join(await tempDir(name), 'node')
  const p = ports()
  const r = await cli(['init', '--type', 'full', '--data-dir', dir, '--p2p-port', String(p.p2p), '--api-port', String(p.api), '--line-mode'])
  expect(r.code, r.stderr).toBe(0)
  const cfgPath = join(dir, 'config.toml')
  let toml = await readFile(cfgPath, 'utf8')
  toml = toml
    .replace('# max_file_bytes = 16777216 # default and upper bound: genesis maxTxBytes', 'max_file_bytes = 65536')
    .replace('stable_ms = 500', 'stable_ms = 200')
    .replace('level = "info"', 'level = "info"')
  await writeFile(cfgPath, extra(toml))
  return dir
}

async function receiptCount(dir: string): Promise<number> {
  return (await listFiles(join(dir, 'receipts'))).filter((f) => /\.chp\.jsonl?$/.test(f)).length
}

describe('a full node ingesting files', () => {
  it('commits every good file exactly once, rejects bad ones with reasons, and writes verifiable receipts', async () => {
    const dir = await initNode('ingest')
    const inbox = join(dir, 'inbox')
    const node = await startNode(dir)
    running.push(node)

    // 1,000 good files of mixed sizes in subfolders, written atomically (tmp + rename) and directly.
    const good: string[] = []
    for (let i = 0; i < 1000; i++) {
      const rel = `line-${i % 7}/batch-${i % 13}/reading-${i}.bin`
      const size = [0, 1, 100, 1024, 4096, 30_000, 65_536][i % 7]
      await mkdir(join(inbox, `line-${i % 7}/batch-${i % 13}`), { recursive: true })
      const data = Buffer.concat([Buffer.from(`file ${i}\n`), randomBytes(Math.max(0, size - 12))]).subarray(0, size)
      if (i % 2 === 0) {
        await writeFile(join(inbox, `${rel}.tmp`), data)
        await rename(join(inbox, `${rel}.tmp`), join(inbox, rel))
      } else await writeFile(join(inbox, rel), data)
      good.push(rel)
    }
    // JSONL export in line mode: 5 records.
    await writeFile(join(inbox, 'export.jsonl'), Array.from({ length: 5 }, (_, i) => JSON.stringify({ t: i, v: i * 1.5 })).join('\n'))
    // Bad input: oversize, malformed JSONL, a FIFO, a broken symlink; ignored: dotfile and *.tmp.
    for (let i = 0; i < 3; i++) await writeFile(join(inbox, `huge-${i}.bin`), randomBytes(65_537 + i))
    await writeFile(join(inbox, 'broken.jsonl'), '{"ok":1}\n{not json\n')
    execFileSync('mkfifo', [join(inbox, 'pipe.fifo')])
    await symlink(join(dir, 'does-not-exist'), join(inbox, 'dangling.bin'))
    await writeFile(join(inbox, '.hidden'), 'x')
    await writeFile(join(inbox, 'partial.tmp'), 'x')

    await waitFor('1,000 file receipts + the JSONL receipt', async () => (await receiptCount(dir)) === 1001, 240_000, 500)
    const rejected = await listFiles(join(dir, 'rejected'))
    for (const bad of ['huge-0.bin', 'huge-1.bin', 'huge-2.bin', 'broken.jsonl', 'pipe.fifo', 'dangling.bin']) {
      await waitFor(`${bad} in rejected/ with a reason`, async () => (await listFiles(join(dir, 'rejected'))).includes(`${bad}.reason`), 30_000)
    }
    expect(rejected.length).toBeGreaterThan(0)
    expect(await readFile(join(dir, 'rejected', 'huge-0.bin.reason'), 'utf8')).toMatch(/65537 bytes exceeds/)
    expect(await readFile(join(dir, 'rejected', 'broken.jsonl.reason'), 'utf8')).toMatch(/line 2/)
    // Ignored files stay where they are.
    expect(await exists(join(inbox, '.hidden'))).toBe(true)
    expect(await exists(join(inbox, 'partial.tmp'))).toBe(true)
    expect(node.child.exitCode).toBeNull()

    // Every receipt is valid Chainpoint v5; all receipts of one block agree on the block hash.
    const byHeight = new Map<string, string>()
    for (const rel of good) {
      const proof = await readJson<Record<string, unknown>>(join(dir, 'receipts', `${rel}.chp.json`))
      expect(chainpointValidate(proof).valid).toBe(true)
      const anchor = chainpointParse(proof).branches[0].anchors[0]
      const seen = byHeight.get(anchor.anchor_id)
      if (seen) expect(anchor.expected_value).toBe(seen)
      else byHeight.set(anchor.anchor_id, anchor.expected_value)
    }
    // The CLI verifies a sample against the original files and the running node's chain (without --api
    // the anchor is not checked: exit 3, issue 10 item 10).
    const api = new URL(chainpointParse(await readJson(join(dir, 'receipts', `${good[0]}.chp.json`))).branches[0].anchors[0].uris?.[0] ?? '').origin
    for (const rel of [good[0], good[501], good[999]]) {
      const r = await cli(['verify', join(dir, 'processed', rel), '--receipt', join(dir, 'receipts', `${rel}.chp.json`), '--api', api])
      expect(r.code, r.stdout + r.stderr).toBe(0)
      expect(r.stdout).toMatch(/VERIFIED/)
    }
    // A changed file fails verification.
    const victim = join(dir, 'processed', good[3])
    await writeFile(victim, Buffer.concat([await readFile(victim), Buffer.from('!')]))
    const bad = await cli(['verify', victim, '--receipt', join(dir, 'receipts', `${good[3]}.chp.json`)])
    expect(bad.code).toBe(1)
    expect(bad.stdout).toMatch(/data was changed/)
    // Line receipts: one append-only JSON-lines file with one receipt per line.
    const lineReceipts = await readLineReceipts(join(dir, 'receipts', 'export.jsonl.chp.jsonl'))
    expect(lineReceipts.map((r) => r.line)).toEqual([1, 2, 3, 4, 5])
    const lv = await cli(['verify', join(dir, 'processed', 'export.jsonl'), '--receipt', join(dir, 'receipts', 'export.jsonl.chp.jsonl'), '--api', api])
    expect(lv.code, lv.stdout + lv.stderr).toBe(0)

    expect(await node.stop('SIGTERM')).toBe(0)

    // Offline: the native receipt's block hash equals the Chainpoint anchor's expected value.
    const rel = good[10]
    const out = join(dir, 'native.json')
    const pr = await cli(['proof', '--data-dir', dir, '--file', join(dir, 'processed', rel), '--format', 'native', '--out', out])
    expect(pr.code, pr.stderr).toBe(0)
    const native = await readJson<{ blockHash: string; height: number }>(out)
    expect(byHeight.get(String(native.height))).toBe(native.blockHash)
    const nv = await cli(['verify', join(dir, 'processed', rel), '--receipt', out, '--genesis', join(dir, 'genesis.json')])
    expect(nv.code, nv.stdout).toBe(0)

    // Exactly once: the chain holds 1,005 records, and the audit is clean.
    const audit = await cli(['audit', '--data-dir', dir, '--json'])
    expect(audit.code, audit.stdout + audit.stderr).toBe(0)
    const report = JSON.parse(audit.stdout) as { canonicalTxs: number; mismatches: unknown[] }
    expect(report.canonicalTxs).toBe(1005)
    expect(report.mismatches).toEqual([])
  })

  it('loses nothing and commits nothing twice when SIGKILLed during ingest', async () => {
    const dir = await initNode('crash')
    const inbox = join(dir, 'inbox')
    const total = 400
    let node = await startNode(dir)
    running.push(node)
    for (let i = 0; i < total; i++) await writeFile(join(inbox, `r-${i}.json`), JSON.stringify({ i, pad: 'x'.repeat(i % 500) }))
    await waitFor('some files processed', async () => (await listFiles(join(dir, 'processed'))).length >= 40, 60_000, 20)
    await node.stop('SIGKILL')
    node = await startNode(dir)
    running.push(node)
    await waitFor(`${total} receipts after restart`, async () => (await receiptCount(dir)) === total, 180_000, 500)
    expect(await node.stop('SIGTERM')).toBe(0)
    expect((await listFiles(join(dir, 'processed'))).length).toBe(total)
    const audit = await cli(['audit', '--data-dir', dir, '--json'])
    const report = JSON.parse(audit.stdout) as { canonicalTxs: number; mismatches: unknown[] }
    expect(report.canonicalTxs).toBe(total)
    expect(report.mismatches).toEqual([])
  })

  it('names a payload changed inside the database in `profichain audit`', async () => {
    const dir = await initNode('tamper')
    const node = await startNode(dir)
    running.push(node)
    for (let i = 0; i < 10; i++) await writeFile(join(dir, 'inbox', `m-${i}.txt`), `measurement ${i}`)
    await waitFor('10 receipts', async () => (await receiptCount(dir)) === 10, 60_000, 200)
    expect(await node.stop('SIGTERM')).toBe(0)
    expect((await cli(['audit', '--data-dir', dir])).code).toBe(0)

    const db = new Level<Uint8Array, Uint8Array>(join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' })
    const payloads = db.sublevel<Uint8Array, Uint8Array>('d', { keyEncoding: 'view', valueEncoding: 'view' })
    let victim = ''
    for await (const [k, v] of payloads.iterator({ limit: 1 })) {
      victim = Buffer.from(k).toString('hex')
      const changed = Uint8Array.from(v)
      changed[0] ^= 1
      await payloads.put(k, changed)
    }
    await db.close()
    expect(victim).toMatch(/^[0-9a-f]{64}$/)
    const audit = await cli(['audit', '--data-dir', dir])
    expect(audit.code).toBe(1)
    expect(audit.stdout).toContain(victim)
    expect(audit.stdout).toMatch(/MISMATCH payload/)
  })

  it('refuses a second node on the same data dir with a clear message', async () => {
    const dir = await initNode('lock')
    const node = await startNode(dir)
    running.push(node)
    const second = await cli(['start', '--data-dir', dir], { timeoutMs: 30_000 })
    expect(second.code).toBe(1)
    expect(second.stderr).toMatch(/in use by another profichain process/)
    expect(await node.stop('SIGTERM')).toBe(0)
  })
})
