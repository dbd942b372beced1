// `profichain broker` as a real process: it prints its URLs, two links talk through it (plain MQTT and
// WebSocket), SIGTERM stops it cleanly; usage mistakes are refused with a message that says what to add.
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { asPartner, exchange, party, startLink, withDeadline } from './broker-helpers.js'

const BIN = join(fileURLToPath(import.meta.url), '..', '..', '..', 'cli', 'bin', 'profichain.js')
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanup.length) await (cleanup.pop() as () => Promise<void>)().catch(() => {})
})

function run(args: string[]): { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, out: () => out, err: () => err, exit }
}

describe('profichain broker', () => {
  it('serves plain MQTT and WebSocket, prints its URLs, stops on SIGTERM', async () => {
    const p = run(['broker', '--host', '127.0.0.1', '--port', '0', '--ws-port', '0'])
    cleanup.push(async () => {
      if (p.child.exitCode === null) p.child.kill('SIGKILL')
    })
    const urls = await withDeadline(
      new Promise<string[]>((resolve, reject) => {
        p.child.stdout?.on('data', () => {
          const lines = p.out().split('\n').filter(Boolean)
          if (lines.length >= 2) resolve(lines)
        })
        void p.exit.then((code) => reject(new Error(`broker exited ${code}: ${p.err()}`)))
      }),
      20_000,
      'the broker prints two URLs',
    )
    expect(urls.map((u) => u.split('://')[0])).toEqual(['mqtt', 'ws'])
    for (const url of urls) {
      const a = party('a')
      const b = party('b')
      const la = await startLink(url, a, [asPartner(b)])
      cleanup.push(() => la.link.stop())
      const lb = await startLink(url, b, [asPartner(a)])
      cleanup.push(() => lb.link.stop())
      await exchange(la.link, lb.link, a.network, b.network)
    }
    p.child.kill('SIGTERM')
    expect(await withDeadline(p.exit, 10_000, 'broker exits after SIGTERM')).toBe(0)
    expect(p.err()).toContain('stopping the broker')
  })

  it('teaches in --help; refuses TLS ports without a certificate, and a missing certificate file, with the fix in the message', async () => {
    const help = run(['broker', '--help'])
    expect(await withDeadline(help.exit, 20_000, 'help exits')).toBe(0)
    expect(help.out()).toMatch(/Example:\n {2}profichain broker/)
    expect(help.out()).toContain('--wss-port')
    const noCert = run(['broker', '--port', '0', '--tls-port', '8883'])
    expect(await withDeadline(noCert.exit, 20_000, 'usage error exit')).toBe(2)
    expect(noCert.err()).toContain('add --tls-cert FILE --tls-key FILE')
    const missing = run(['broker', '--port', '0', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'])
    expect(await withDeadline(missing.exit, 20_000, 'file error exit')).not.toBe(0)
    expect(missing.err()).toMatch(/cannot read the TLS certificate .*cert\.pem: ENOENT/)
  })
})
