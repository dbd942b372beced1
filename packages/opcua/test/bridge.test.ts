// The bridge against the real simulator (node-opcua server and client in this process): security, identity,
// per-item intervals, batching; records captured by an in-memory output.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { afterAll, describe, expect, it } from 'vitest'
import { createBridge, createSimulator, OpcuaError, parseBridgeLine, type RecordOutput, SIM_VARIABLES, simNodeId, type Simulator } from '../src/index.js'

const sims: Simulator[] = []
afterAll(async () => {
  for (const s of sims) await s.stop()
})

function memoryOutput(): RecordOutput & { lines: string[] } {
  const lines: string[] = []
  return { lines, start: async () => {}, write: async (ls) => void lines.push(...ls), flush: async () => {}, stop: async () => {} }
}

async function waitFor(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('bridge ↔ simulator', () => {
  it('SignAndEncrypt (Basic256Sha256) with user/password: samples arrive, batched k per record, in order', async () => {
    const pki = await mkdtemp(join(tmpdir(), 'profichain-opcua-pki-'))
    const sim = await createSimulator({ pkiDir: join(pki, 'server'), users: [{ user: 'operator', password: 's3cret' }], requireUser: true })
    sims.push(sim)
    const out = memoryOutput()
    const registry = new Registry()
    const items = SIM_VARIABLES.filter((v) => v.fast)
      .slice(0, 2)
      .map((v, i) => ({ nodeId: simNodeId(v.path), name: v.path, samplingIntervalMs: 10 * (i + 1), publishingIntervalMs: 50 * (i + 1) }))
    const bridge = createBridge(
      {
        publisherId: 'secure',
        samplesPerRecord: 5,
        pkiDir: join(pki, 'client'),
        servers: [{ endpointUrl: sim.endpointUrl, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', user: 'operator', password: 's3cret', items }],
      },
      { output: out, registry },
    )
    await bridge.start()
    await waitFor('20 records', () => out.lines.length >= 20)
    await bridge.stop()
    const msgs = out.lines.map(parseBridgeLine).flatMap((p) => (p.kind === 'data' ? p.message.Messages : []))
    expect(out.lines.slice(0, -1).every((l) => (parseBridgeLine(l) as { message: { Messages: unknown[] } }).message.Messages.length === 5)).toBe(true)
    for (const id of [1, 2]) {
      const seqs = msgs.filter((m) => m.DataSetWriterId === id).map((m) => m.SequenceNumber)
      expect(seqs).toEqual(seqs.map((_, i) => i + 1))
    }
    expect(msgs.length).toBe(bridge.stats().received)
    expect((await registry.getSingleMetric('profichain_opcua_samples_total')?.get())?.values[0].value).toBe(msgs.length)
  })

  it('several servers in one bridge: DataSetWriterIds in config order, samples from each', async () => {
    const [s1, s2] = [await createSimulator(), await createSimulator()]
    sims.push(s1, s2)
    const out = memoryOutput()
    const fast = SIM_VARIABLES.filter((v) => v.fast)
    const bridge = createBridge(
      {
        publisherId: 'two',
        samplesPerRecord: 1,
        servers: [
          { name: 'lathe', endpointUrl: s1.endpointUrl, items: fast.slice(0, 2).map((v) => ({ nodeId: simNodeId(v.path), name: `lathe.${v.path}`, samplingIntervalMs: 20 })) },
          { name: 'mill', endpointUrl: s2.endpointUrl, items: [{ nodeId: simNodeId(fast[0].path), name: 'mill.speed', samplingIntervalMs: 20 }] },
        ],
      },
      { output: out },
    )
    await bridge.start()
    const writers = () => new Set(out.lines.map(parseBridgeLine).flatMap((p) => (p.kind === 'data' ? p.message.Messages.map((m) => `${m.DataSetWriterId}:${m.DataSetWriterName}`) : [])))
    await waitFor('samples of all three variables', () => writers().size === 3)
    await bridge.stop()
    expect([...writers()].sort()).toEqual([`1:lathe.${fast[0].path}`, `2:lathe.${fast[1].path}`, '3:mill.speed'])
  })

  it('a stuck output: intake stops with ERR_OPCUA_OUTPUT once maxQueuedSamples wait (memory stays bounded)', async () => {
    const sim = await createSimulator()
    sims.push(sim)
    let release: () => void = () => {}
    const stuck = new Promise<void>((r) => (release = r))
    const out: RecordOutput = { start: async () => {}, write: () => stuck, flush: async () => {}, stop: async () => {} }
    const bridge = createBridge(
      { publisherId: 's', samplesPerRecord: 10, maxQueuedSamples: 50, servers: [{ endpointUrl: sim.endpointUrl, items: [{ nodeId: simNodeId(SIM_VARIABLES[0].path), samplingIntervalMs: 10 }] }] },
      { output: out },
    )
    const failed = new Promise<Error>((r) => bridge.events.once('error', r))
    await bridge.start()
    const err = await failed
    expect((err as OpcuaError).code).toBe('ERR_OPCUA_OUTPUT')
    const taken = bridge.stats().received
    release()
    await expect(bridge.stop()).rejects.toThrow(/samples wait for the output/)
    expect(bridge.stats().received).toBeLessThanOrEqual(taken + 1)
  })

  it('a wrong password is a clear ERR_OPCUA_CONNECT', async () => {
    const sim = await createSimulator({ users: [{ user: 'operator', password: 's3cret' }], requireUser: true })
    sims.push(sim)
    const bridge = createBridge(
      { publisherId: 'x', servers: [{ endpointUrl: sim.endpointUrl, user: 'operator', password: 'wrong', items: [{ nodeId: simNodeId(SIM_VARIABLES[0].path) }] }] },
      { output: memoryOutput() },
    )
    const err = await bridge.start().then(
      () => undefined,
      (e: unknown) => e,
    )
    await bridge.stop()
    expect(err).toBeInstanceOf(OpcuaError)
    expect((err as OpcuaError).code).toBe('ERR_OPCUA_CONNECT')
  })

  it('refuses a batch size outside 1..10000 and a variable configured twice', () => {
    const server = { endpointUrl: 'opc.tcp://127.0.0.1:1', items: [{ nodeId: 'ns=1;s=a' }] }
    expect(() => createBridge({ publisherId: 'x', samplesPerRecord: 0, servers: [server] }, { output: memoryOutput() })).toThrow(/samples per record/)
    expect(() => createBridge({ publisherId: 'x', servers: [{ ...server, items: [...server.items, ...server.items] }] }, { output: memoryOutput() })).toThrow(/twice/)
  })
})
