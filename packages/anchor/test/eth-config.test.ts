import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { AnchorError, createEthAnchor, readAnchors } from '../src/index.js'

const dir = () => mkdtemp(join(tmpdir(), 'profichain-anchor-unit-'))

describe('createEthAnchor configuration', () => {
  it('refuses a non-HTTP URL, a depth below 1 and gas limits out of range, by name', async () => {
    const d = join(await dir(), 'db')
    for (const [init, what] of [
      [{ rpcUrl: 'ws://x' }, 'rpc_url'],
      [{ rpcUrl: 'http://x', confirmations: 0 }, 'confirmations'],
      [{ rpcUrl: 'http://x', gasLimit: 21_000 }, 'gas_limit'],
    ] as const) {
      let err: unknown
      try {
        createEthAnchor({ ...init, dir: d })
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(AnchorError)
      expect((err as AnchorError).code).toBe('ERR_ANCHOR_CONFIG')
      expect((err as Error).message).toContain(what)
    }
  })
  it('open() names an unreadable or malformed key file (ERR_ANCHOR_KEY); a good one gives the account address', async () => {
    const d = await dir()
    await expect(createEthAnchor({ rpcUrl: 'http://127.0.0.1:1', keyFile: join(d, 'none.key'), dir: join(d, 'a') }).open()).rejects.toMatchObject({ code: 'ERR_ANCHOR_KEY' })
    await writeFile(join(d, 'bad.key'), 'not a key\n')
    await expect(createEthAnchor({ rpcUrl: 'http://127.0.0.1:1', keyFile: join(d, 'bad.key'), dir: join(d, 'b') }).open()).rejects.toMatchObject({ code: 'ERR_ANCHOR_KEY' })
    await writeFile(join(d, 'good.key'), `${'11'.repeat(32)}\n`)
    const a = createEthAnchor({ rpcUrl: 'http://127.0.0.1:1', keyFile: join(d, 'good.key'), dir: join(d, 'c') })
    await a.open()
    expect(a.address).toMatch(/^0x[0-9a-fA-F]{40}$/)
    expect(await a.inFlight()).toBeUndefined()
    expect(await a.anchors()).toEqual([])
    await a.close()
    expect(await readAnchors(join(d, 'c'))).toEqual([])
    expect(await readAnchors(join(d, 'missing'))).toEqual([])
  })
})
