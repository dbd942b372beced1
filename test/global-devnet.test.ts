// `profichain devnet --networks 2`: two companies and a broker in one command, partnered both ways.
import { type ChildProcess, spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI, cli, portBase, readJson, tempDir, waitFor } from './helpers.js'

let child: ChildProcess | undefined

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child!.once('exit', r))
    process.kill(-(child.pid as number), 'SIGINT')
    await exited
  }
})

interface Info {
  broker: string
  networks: Array<{ network: string; origin: string; dir: string }>
  nodes: Array<{ name: string; network: string; dataDir: string; inbox: string; api: string }>
}

describe('devnet --networks 2', () => {
  it('starts two partnered companies and a broker; a record on each gets a receipt reaching the other chain; Ctrl-C stops all', async () => {
    const dir = join(await tempDir('gdevnet'), 'g')
    const base = portBase()
    child = spawn(process.execPath, [CLI, 'devnet', '--dir', dir, '--networks', '2', '--thin', '0', '--block-time', '250', '--p2p-port', String(base), '--api-port', String(base + 100), '--broker-port', String(base + 200)], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout?.on('data', (d) => (out += d))
    child.stderr?.on('data', (d) => (out += d))
    const exited = new Promise<number | null>((res) => child!.once('exit', (c) => res(c)))
    const info = await waitFor('devnet.json', async () => {
      if (child!.exitCode !== null) throw new Error(`devnet exited: ${out}`)
      return readJson<Info>(join(dir, 'devnet.json')).catch(() => undefined)
    }, 90_000, 200)
    expect(info.broker).toBe(`mqtt://127.0.0.1:${base + 200}`)
    expect(info.networks.map((n) => n.network)).toEqual(['devnet-1', 'devnet-2'])
    expect(info.nodes.map((n) => n.network)).toEqual(['devnet-1', 'devnet-2'])
    const d0 = info.nodes[0].dataDir
    const [listed, badVkey, badKey, unknown] = await Promise.all([
      cli(['partner', 'list', '--data-dir', d0]),
      cli(['partner', 'add', '--data-dir', d0, '--name', 'x', '--origin', 'x.example/log', '--vkey', 'x.example/log+00000000+AAAA', '--encryption-key', '00'.repeat(32)]),
      cli(['partner', 'add', '--data-dir', d0, '--name', 'x', '--origin', 'devnet-2.devnet.invalid/profichain', '--vkey', 'devnet-2.devnet.invalid/profichain+00000000+AAAA', '--encryption-key', 'zz']),
      cli(['partner', 'remove', '--data-dir', d0, '--name', 'nobody']),
    ])
    expect(listed.stdout).toContain('devnet-2.devnet.invalid/profichain')
    expect(listed.stdout).toMatch(/encryption key +[0-9a-f]{64}/)
    expect(badVkey.code, badVkey.stderr).toBe(2)
    expect(badVkey.stderr).toContain('vkeys[0]')
    expect(badKey.code).toBe(2)
    expect(unknown.code).toBe(1)
    for (const [i, n] of info.nodes.entries()) await writeFile(join(n.inbox, `r${i}.txt`), `record of ${n.network}\n`)
    for (const [i, n] of info.nodes.entries()) {
      const other = info.nodes[1 - i]
      const receipt = join(n.dataDir, 'receipts', `r${i}.txt.chp.json`)
      await waitFor(`${n.network}'s receipt reaches ${other.network}`, async () => {
        const r = JSON.parse(await readFile(receipt, 'utf8').catch(() => '{}')) as { branches?: Array<{ branches?: unknown[] }> }
        return (r.branches?.[0]?.branches?.length ?? 0) > 0
      }, 60_000, 250)
      const v = await cli(['verify', join(n.dataDir, 'processed', `r${i}.txt`), '--receipt', receipt, '--api', n.api, '--partner-api', other.api])
      expect(v.code, v.stdout).toBe(0)
      expect(v.stdout).toContain(`of "${other.network}"`)
    }
    process.kill(-(child.pid as number), 'SIGINT')
    expect(await exited, out).toBe(0)
  })
})
