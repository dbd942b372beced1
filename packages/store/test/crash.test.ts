import { type ChildProcess, spawn } from 'node:child_process'
import { readdir, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { BlockTree } from '../src/index.js'
// @ts-expect-error: plain .mjs fixture shared with the child process
import { consensus, genesis } from './fixtures/crash-setup.mjs'
import { tempDir } from './helpers.js'

const WRITER = fileURLToPath(new URL('./fixtures/crash-writer.mjs', import.meta.url))
const ACK_WRITER = fileURLToPath(new URL('./fixtures/ack-writer.mjs', import.meta.url))
const ROUNDS = 24

/** Resolves once the child has printed `lines` lines after "ready", or rejects if it exits first. */
function waitForLines(cp: ChildProcess, lines: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = -1
    let buf = ''
    let stderr = ''
    cp.stderr?.on('data', (d) => {
      stderr += d
    })
    cp.stdout?.on('data', (d) => {
      buf += d
      const parts = buf.split('\n')
      buf = parts.pop() ?? ''
      seen += parts.length
      if (seen >= lines) resolve()
    })
    cp.on('exit', (code) => reject(new Error(`writer exited with ${code} before being killed: ${stderr}`)))
  })
}

describe('crash safety', () => {
  it('a writer killed with SIGKILL at random points always leaves a consistent store', async () => {
    const dir = await tempDir()
    let lastHeight = 0
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const cp = spawn(process.execPath, [WRITER, dir.path], { stdio: ['ignore', 'pipe', 'pipe'] })
        const exited = new Promise((r) => cp.on('exit', r))
        // Kill at a random point: after 0..6 blocks, plus a random part of the next one.
        await waitForLines(cp, Math.floor(Math.random() * 7))
        await new Promise((r) => setTimeout(r, Math.random() * 15))
        cp.kill('SIGKILL')
        await exited

        const tree = await BlockTree.open({ path: dir.path, genesis, consensus })
        try {
          const head = tree.head()
          let txs = 0
          for (let h = 0; h <= head.height; h++) {
            const b = await tree.getBlockByHeight(h)
            expect(b, `canonical block at height ${h}`).toBeDefined()
            txs += b?.txs.length ?? 0
          }
          expect(await tree.getHashAtHeight(head.height + 1)).toBeUndefined()
          expect((await tree.stats()).txs).toBe(txs)
          const report = await tree.audit()
          expect(report.mismatches).toEqual([])
          expect(report.txs).toBeGreaterThanOrEqual(txs)
          expect(head.height).toBeGreaterThanOrEqual(lastHeight - 2)
          lastHeight = head.height
        } finally {
          await tree.close()
        }
      }
      // The writer did make progress across the rounds.
      expect(lastHeight).toBeGreaterThan(ROUNDS)
    } finally {
      await dir.cleanup()
    }
  }, 60_000)

  it('a power cut that drops LevelDB\'s log after acknowledged blocks is detected at open and by audit', async () => {
    const dir = await tempDir()
    const db = join(dir.path, 'db')
    try {
      // Blocks 1..3 in a first run: the next open recovers them from the log into a table file.
      const first = spawn(process.execPath, [ACK_WRITER, db, '3'], { stdio: ['ignore', 'pipe', 'pipe'] })
      const firstExit = new Promise((r) => first.on('exit', r))
      await waitForLines(first, 0) // the "acked" line
      first.kill('SIGKILL')
      await firstExit
      // Blocks 4..8, acknowledged (receipts issued), then the power goes.
      const cp = spawn(process.execPath, [ACK_WRITER, db, '5'], { stdio: ['ignore', 'pipe', 'pipe'] })
      const exited = new Promise((r) => cp.on('exit', r))
      await waitForLines(cp, 0)
      cp.kill('SIGKILL')
      await exited
      // What a power cut does to data the OS had not yet written back: the write-ahead log is cut short.
      const logs = (await readdir(db)).filter((f) => f.endsWith('.log'))
      expect(logs.length).toBeGreaterThan(0)
      for (const f of logs) await truncate(join(db, f), 0)

      const tree = await BlockTree.open({ path: db, genesis, consensus })
      try {
        expect(tree.head().height).toBeLessThan(8)
        expect(tree.head().height).toBeGreaterThanOrEqual(3)
        const check = tree.ackCheck()
        expect(check.ok).toBe(false)
        if (!check.ok) {
          expect(check.code).toBe('HEAD_BEHIND_ACK')
          expect(check.acknowledged.height).toBe(8)
          expect(check.head.height).toBe(tree.head().height)
          expect(check.message).toMatch(/behind block 8/)
        }
        const report = await tree.audit()
        expect(report.mismatches.map((m) => m.kind)).toContain('ack')
      } finally {
        await tree.close()
      }
    } finally {
      await dir.cleanup()
    }
  }, 30_000)
})
