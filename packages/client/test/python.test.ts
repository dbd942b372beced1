import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { type CborValue, deriveRecordKey, encodeCbor, fromHex, openTier2Tx, toHex } from '@profichain/core'
import { FakeNode } from './fake-node.js'

const here = dirname(fileURLToPath(import.meta.url))
const pyDir = join(here, '..', 'python')
const vectors = join(here, '..', '..', 'core', 'test', 'fixtures', 'ingest-protocol.json')

/** The first python3 that has `cryptography` (python3 on PATH, then /usr/bin/python3). */
function findPython(): string {
  for (const p of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(p, ['-c', 'import cryptography'], { stdio: 'ignore' })
      return p
    } catch {
      // try the next one
    }
  }
  throw new Error('no python3 with the `cryptography` package (Debian: apt-get install python3-cryptography)')
}

function run(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; lines: Array<Record<string, unknown>>; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(findPython(), args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
    p.on('error', reject)
    p.on('close', (code) => {
      clearTimeout(t)
      try {
        resolve({ code, lines: out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>), stderr: err })
      } catch (e) {
        reject(new Error(`python printed non-JSON: ${out}\n${err}`, { cause: e }))
      }
    })
  })
}

const nodes: FakeNode[] = []
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop()
})

describe('Python client (profichain_client.py)', () => {
  it('reproduces every ingest protocol vector byte for byte, and its frame decoder survives mutated frames', async () => {
    const r = await run([join(pyDir, 'test_vectors.py'), vectors])
    expect(r.stderr).toBe('')
    expect(r.lines[0]).toEqual({ checked: 26, failed: [] })
    expect(r.code).toBe(0)
  })

  it('property: its deterministic CBOR encoder gives the bytes of core for any value of the protocol subset', () => {
    const key = fc.string({ maxLength: 8 }).filter((k) => k !== '$b' && k !== '__proto__')
    const value: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.maxSafeInteger(),
        fc.integer({ min: -1000, max: 1000 }),
        fc.string({ unit: 'grapheme', maxLength: 30 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(key, tie('v'), { maxKeys: 4 }),
      ),
    })).v
    const values = fc.sample(value, { numRuns: 300, seed: 14 })
    const toJson = (v: CborValue): unknown => (v instanceof Uint8Array ? { $b: toHex(v) } : Array.isArray(v) ? v.map(toJson) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)])) : v)
    const out = execFileSync(findPython(), [join(pyDir, 'cbor_check.py')], { input: JSON.stringify(values.map(toJson)) }).toString()
    const got = JSON.parse(out) as Array<[string, boolean]>
    expect(got).toHaveLength(values.length)
    values.forEach((v, i) => {
      expect(got[i][0]).toBe(toHex(encodeCbor(v)))
      expect(got[i][1]).toBe(true)
    })
  })

  it('talks to a TLS ingest server: pinned hello, batches acked, receipts checked and acknowledged, tier 2', async () => {
    const n = new FakeNode({ receipts: true, maxBatch: 4 })
    nodes.push(n)
    await n.start()
    const dir = mkdtempSync(join(tmpdir(), 'pc-py-'))
    const keyFile = join(dir, 'device.seed')
    writeFileSync(keyFile, '07'.repeat(32), { mode: 0o600 })
    const dataKey = '11'.repeat(32)
    const r = await run([join(pyDir, 'example.py'), '--port', String(n.port), '--fingerprint', n.cert.fingerprint, '--network', n.network, '--key', keyFile, '--count', '10', '--batch', '3', '--data-key', dataKey, '--epoch', '2', '--receipts', '--receipt-timeout', '15'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const acks = r.lines.filter((l) => 'status' in l)
    const receipts = r.lines.filter((l) => 'receipt' in l)
    expect(acks.map((a) => a.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(acks.every((a) => a.status === 'accepted')).toBe(true)
    expect(new Set(receipts.map((x) => x.receipt))).toEqual(new Set(acks.map((a) => a.txId)))
    expect(n.state.receiptAcked).toEqual(new Set(acks.map((a) => a.txId as string)))
    // Tier 2 as Python sealed it opens with core's code (the record key re-derived from the data key).
    const tx = n.state.txs.get(acks[0].txId as string)
    if (!tx) throw new Error('not stored')
    const k = deriveRecordKey(fromHex(dataKey), tx.body.origin, 2, tx.body.seq)
    expect(JSON.parse(Buffer.from(openTier2Tx(k, tx)).toString())).toMatchObject({ reading: 0 })
    expect(toHex(tx.body.origin)).toHaveLength(64)
  })

  it('refuses a server whose certificate is not the pinned one, before sending a byte', async () => {
    const n = new FakeNode()
    nodes.push(n)
    await n.start()
    const dir = mkdtempSync(join(tmpdir(), 'pc-py-'))
    const keyFile = join(dir, 'device.seed')
    writeFileSync(keyFile, '08'.repeat(32), { mode: 0o600 })
    const r = await run([join(pyDir, 'example.py'), '--port', String(n.port), '--fingerprint', 'cd'.repeat(32), '--network', n.network, '--key', keyFile, '--count', '1'])
    expect(r.code).toBe(1)
    expect(r.lines[0].error).toBe('ERR_FINGERPRINT_MISMATCH')
    expect(n.bytesReceived).toBe(0)
  })
})
