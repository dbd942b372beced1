// The `profichain` command as a user meets it: help that teaches, one-line errors, exit codes.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cli, tempDir } from './helpers.js'

const COMMANDS = ['init', 'start', 'keys', 'proof', 'verify', 'audit', 'status', 'devnet']

describe('profichain CLI', () => {
  it('lists every command and shows an example in each command help', async () => {
    const top = await cli(['--help'])
    expect(top.code).toBe(0)
    for (const c of COMMANDS) expect(top.stdout).toContain(c)
    const helps = await Promise.all(COMMANDS.map((c) => cli([c, '--help'])))
    helps.forEach((h, i) => {
      expect(h.code, COMMANDS[i]).toBe(0)
      expect(h.stdout, COMMANDS[i]).toMatch(/Example:\n {2}profichain /)
    })
  })

  it('exits 2 on usage errors and 1 with one clear line on operator errors', async () => {
    expect((await cli(['no-such-command'])).code).toBe(2)
    expect((await cli(['init', '--type', 'giant', '--data-dir', '/tmp/x'])).code).toBe(2)
    const missing = await cli(['start', '--data-dir', '/nonexistent/profichain'])
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim().split('\n')).toHaveLength(1)
    expect(missing.stderr).toMatch(/^error: no config at .*run "profichain init/)
  })

  it('refuses to init over an existing node and reports a bad receipt precisely', async () => {
    const dir = join(await tempDir('cli'), 'n')
    expect((await cli(['init', '--data-dir', dir])).code).toBe(0)
    const again = await cli(['init', '--data-dir', dir])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/already holds a node/)
    const keys = await cli(['keys', '--data-dir', dir])
    expect(JSON.parse(keys.stdout).publicKey).toMatch(/^[0-9a-f]{64}$/)
    const file = join(dir, 'data.txt')
    await writeFile(file, 'x')
    await writeFile(join(dir, 'receipt.json'), '{"not":"a receipt"}')
    const v = await cli(['verify', file, '--receipt', join(dir, 'receipt.json')])
    expect(v.code).toBe(1)
    expect(v.stdout).toMatch(/neither a Chainpoint v5 proof nor a ProfichainReceipt/)
    await writeFile(join(dir, 'broken.json'), '{')
    const b = await cli(['verify', file, '--receipt', join(dir, 'broken.json')])
    expect(b.code).toBe(1)
    expect(b.stderr).toMatch(/is not valid JSON/)
  })
})
