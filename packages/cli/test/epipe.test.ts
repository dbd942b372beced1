import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../bin/profichain.js', import.meta.url))

describe('cli output into a closed pipe', () => {
  it('a reader that closes before the CLI writes (`profichain … | head`) ends it quietly, exit code 0, no EPIPE trace', async () => {
    // The read end is closed at once; the CLI loads its modules for hundreds of ms before it writes its help,
    // so its write meets a closed pipe (EPIPE).
    const child = spawn(process.execPath, [BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
    expect(stderr).not.toMatch(/EPIPE|Unhandled/)
    expect(code).toBe(0)
  })
})
