import { EventEmitter } from 'node:events'
import { AnchorError, type AnchorProof, type AnchorRequest, type PublicAnchor, type PublicAnchorEvents } from '@profichain/anchor'
import { sha256, utf8 } from '@profichain/core'
import type { BlockTree } from '@profichain/store'
import { describe, expect, it } from 'vitest'
import type { CheckpointsService } from '../src/checkpoints/index.js'
import { createPublicAnchoring } from '../src/anchor/index.js'
import { parseConfig } from '../src/config.js'
import { silent } from './fakes.js'

/** A PublicAnchor that records what it was asked (unit test of the subsystem's decisions; the real one is tested against ganache in test/anchor.test.ts). */
class FakeAnchor extends EventEmitter<PublicAnchorEvents> implements PublicAnchor {
  readonly kind = 'eth'
  submitted: AnchorRequest[] = []
  done: AnchorProof[] = []
  fail?: AnchorError
  async submit(req: AnchorRequest): Promise<AnchorProof> {
    this.submitted.push(req)
    if (this.fail) throw this.fail
    const p = { kind: 'eth', size: req.size, origin: req.origin } as AnchorProof
    this.done.unshift(p)
    this.emit('anchored', p)
    return p
  }
  async resume() { return undefined }
  async inFlight() { return undefined }
  async anchors() { return this.done }
  async latest() { return this.done[0] }
  async close() {}
}

function checkpoints(size: () => number): CheckpointsService {
  return { checkpoints: { latest: async () => (size() === 0 ? undefined : { checkpoint: { origin: 'o.example/x', size: size(), root: sha256(utf8(`r${size()}`)), extensions: [] }, text: '', note: '' }) } } as unknown as CheckpointsService
}

describe('public anchoring subsystem', () => {
  it('anchors the latest checkpoint only when it grew; a failure shows in health and the next round retries', async () => {
    let size = 0
    const anchor = new FakeAnchor()
    const a = createPublicAnchoring({ intervalMs: 3_600_000 }, { checkpoints: checkpoints(() => size), store: {} as BlockTree, anchor, logger: silent })
    await a.tick()
    expect(anchor.submitted).toHaveLength(0)
    size = 5
    await a.tick()
    await a.tick()
    expect(anchor.submitted.map((r) => r.size)).toEqual([5])
    size = 6
    anchor.fail = new AnchorError('ERR_ANCHOR_FUNDS', 'fund it')
    const failures: Error[] = []
    a.on('failure', (e) => failures.push(e))
    await a.tick()
    expect(a.health()).toEqual({ ok: false, code: 'ANCHOR_FAILING', message: 'fund it' })
    expect(failures).toHaveLength(1)
    anchor.fail = undefined
    await a.tick()
    expect(a.health()).toEqual({ ok: true })
    expect(anchor.submitted.map((r) => r.size)).toEqual([5, 6, 6])
    expect((await a.anchors()).map((p) => p.size)).toEqual([6, 5])
    // A failure the anchor retries by itself (RPC down) shows in health until the next anchor is confirmed.
    anchor.emit('failure', new AnchorError('ERR_ANCHOR_RPC', 'rpc down'))
    expect(a.health()).toMatchObject({ ok: false, message: 'rpc down' })
    size = 7
    await a.tick()
    expect(a.health()).toEqual({ ok: true })
    await a.stop()
  })
})

describe('[anchor] config', () => {
  it('is off by default, takes the documented keys, refuses a non-HTTP URL and bad gas limits by name', () => {
    expect(parseConfig({ type: 'full' }, '/d').anchor).toEqual({ key_file: 'anchor.key', interval_s: 600, confirmations: 12, gas_limit: 60_000, max_fee_gwei: 500 })
    const c = parseConfig({ type: 'full', anchor: { rpc_url: 'http://127.0.0.1:8545', interval_s: 1, confirmations: 2 } }, '/d')
    expect(c.anchor).toMatchObject({ rpc_url: 'http://127.0.0.1:8545', interval_s: 1, confirmations: 2 })
    expect(() => parseConfig({ type: 'full', anchor: { rpc_url: 'ws://x' } }, '/d')).toThrow(/anchor\.rpc_url/)
    expect(() => parseConfig({ type: 'full', anchor: { rpc_url: 'http://x', gas_limit: 100 } }, '/d')).toThrow(/anchor\.gas_limit/)
  })
})
