import type { Block } from '@profichain/core'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createSync, createWatchdog, type SyncNet, type SyncStore, trackImports } from '../src/sync/index.js'
import { silent } from './fakes.js'

/** A pino logger whose lines land in `lines` (level, part, msg). */
function capture() {
  const lines: Array<{ level: number; part?: string; msg: string }> = []
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) })
  return { logger, lines }
}

const stalledGauge = async (r: Registry) => (await r.getSingleMetricAsString('profichain_node_stalled')).split('\n').filter((l) => l.startsWith('profichain_node_stalled{'))

describe('liveness watchdog', () => {
  it('chain: an import that never settles is reported once (log, gauge), and cleared when it settles', async () => {
    let now = 1_000_000
    let release: (v: string) => void = () => {}
    const imports = trackImports((_b: Block) => new Promise<string>((r) => (release = r)), () => now)
    const { logger, lines } = capture()
    const registry = new Registry()
    const dog = createWatchdog({ stallMs: 30_000 }, { chainWaitMs: imports.oldestWaitMs, syncRoundMs: () => 0, logger, registry, now: () => now })
    const pending = imports.addBlock({} as Block)
    expect(dog.check()).toEqual([])
    now += 30_001
    expect(imports.oldestWaitMs()).toBe(30_001)
    expect(dog.check()).toEqual(['chain'])
    expect(dog.check()).toEqual(['chain'])
    expect(lines.filter((l) => l.msg === 'watchdog: chain has not progressed')).toHaveLength(1)
    expect(await stalledGauge(registry)).toContain('profichain_node_stalled{part="chain"} 1')
    release('applied')
    expect(await pending).toBe('applied')
    expect(imports.oldestWaitMs()).toBe(0)
    expect(dog.check()).toEqual([])
    expect(lines.at(-1)).toMatchObject({ part: 'chain', msg: 'watchdog: chain progresses again' })
    expect(await stalledGauge(registry)).toContain('profichain_node_stalled{part="chain"} 0')
  })

  it('finality (quorum): head above a final block that does not move is a stall (even while the head moves); the final block moving clears it', () => {
    let now = 0
    const heights = { head: 7, final: 4 }
    const { logger, lines } = capture()
    const dog = createWatchdog({ finalityStallMs: 60_000 }, { chainWaitMs: () => 0, syncRoundMs: () => 0, heights: () => heights, logger, now: () => now })
    expect(dog.check()).toEqual([])
    now += 59_000
    heights.head = 8
    expect(dog.check()).toEqual([])
    now += 2_000
    expect(dog.check()).toEqual(['finality'])
    expect(lines.at(-1)).toMatchObject({ level: 40, part: 'finality', msg: 'watchdog: finality has not progressed' })
    heights.final = 8
    expect(dog.check()).toEqual([])
    // Head = final (a quiet network with nothing to finalise) is never a stall.
    now += 120_000
    expect(dog.check()).toEqual([])
  })

  it('sync: a round stuck on a request that never answers shows in roundMs and is reported', async () => {
    const net: SyncNet = { request: () => new Promise(() => {}), peers: () => [{ peerId: 'silent-peer' }] }
    const head = { hash: new Uint8Array(32), height: 0 }
    const store = { head: () => head, hasBlock: async () => false } as unknown as SyncStore
    const sync = createSync({ genesisHash: new Uint8Array(32) }, { net, store, chain: { addBlock: async () => ({ status: 'known' }) }, logger: silent })
    expect(sync.roundMs()).toBe(0)
    void sync.sync()
    expect(sync.isSyncing()).toBe(true)
    const { logger } = capture()
    const dog = createWatchdog({ stallMs: 20 }, { chainWaitMs: () => 0, syncRoundMs: () => sync.roundMs(), logger })
    const deadline = Date.now() + 10_000
    while (dog.check().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    expect(dog.check()).toEqual(['sync'])
    expect(sync.roundMs()).toBeGreaterThan(20)
  })
})
