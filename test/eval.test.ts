// End to end (issue 7): the evaluation's quick mode on a real devnet. Asserts correctness (every record
// committed exactly once, every experiment produced rows and plots), never speed.
import { execFile } from 'node:child_process'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT, tempDir } from './helpers.js'

interface Counts {
  sent: number
  matched: number
  lost: number
  duplicated: number
  unexpected: number
  receiptsMissing: number
}

function runEval(out: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'scripts/eval/run.mjs'), '--quick', '--out', out], { timeout: 280_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output: stdout + stderr })
    })
  })
}

describe('scripts/eval --quick', () => {
  it('runs every experiment, loses and duplicates nothing, writes the report and plots', async () => {
    const out = await tempDir('eval')
    const r = await runEval(out)
    expect(r.code, r.output).toBe(0)
    const res = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as {
      runs: { counts: Counts; settled: boolean }[]
      exp1: { steps: unknown[] }[]
      exp2: { steps: unknown[] }[]
      exp3: unknown[]
      exp4: unknown[]
      exp5: Counts & { runs: number; unsettled: number }
    }
    expect(res.exp1.length).toBe(2)
    for (const e of res.exp1) expect(e.steps.length).toBeGreaterThan(0)
    expect(res.exp2.map((e) => e.steps.length)).toEqual([1, 1, 1, 1])
    expect(res.exp3.length).toBe(2)
    expect(res.exp4.length).toBe(6)
    for (const run of res.runs) {
      expect(run.settled).toBe(true)
      expect(run.counts.sent).toBeGreaterThan(0)
      expect(run.counts).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0, receiptsMissing: 0, matched: run.counts.sent })
    }
    expect(res.exp5).toMatchObject({ runs: res.runs.length, lost: 0, duplicated: 0, unexpected: 0, receiptsMissing: 0, unsettled: 0 })
    expect(res.exp5.matched).toBe(res.exp5.sent)
    const svgs = (await readdir(out)).filter((f) => f.endsWith('.svg')).sort()
    expect(svgs).toEqual(['exp1-latency.svg', 'exp1-throughput.svg', 'exp2-latency.svg', 'exp2-throughput.svg', 'exp3-cdf-1s.svg', 'exp3-cdf-3s.svg', 'exp4-block.svg', 'exp4-response.svg'])
    for (const f of svgs) expect(await readFile(join(out, f), 'utf8')).toMatch(/^<svg [^]*<\/svg>\n$/)
    const report = await readFile(join(out, 'report.md'), 'utf8')
    for (const h of ['## 1.', '## 2.', '## 3.', '## 4.', '## 5.']) expect(report).toContain(h)
    for (const f of svgs) expect(report).toContain(`](${f})`)
  })
})
