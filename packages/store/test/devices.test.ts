import { ConsensusError } from '@profichain/consensus'
import {
  type Block,
  type BlockHeader,
  blockHash,
  createDeviceRevokeTx,
  createDeviceTx,
  createTransaction,
  type KeyPair,
  toHex,
  type Transaction,
  txIdHex,
} from '@profichain/core'
import { mkdir, rm } from 'node:fs/promises'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkIncomingTx } from '../src/index.js'
import { addChild, child, makeTx, NETWORK, openTree, origin, payloadsOf, producer, refusedChild, seedKey, useTree } from './helpers.js'

// Issue 14 items 1 and 2: device identities, the stateful origin rule, replays.
const sensor = seedKey(90)
const sensor2 = seedKey(91)

const t = useTree()
let memberSeq = 1000

function register(key: KeyPair, deviceId: string, owner: KeyPair = origin): Transaction {
  return createDeviceTx(owner, { network: NETWORK, seq: memberSeq++, device: { deviceId, publicKey: key.publicKey, model: 'T-1000' } })
}

function revoke(key: KeyPair, owner: KeyPair = origin): Transaction {
  return createDeviceRevokeTx(owner, { network: NETWORK, seq: memberSeq++, revoke: { publicKey: key.publicKey, reason: 'stolen' } })
}

function deviceRecord(key: KeyPair, seq: number, text = `reading ${seq}`): Transaction {
  return createTransaction(key, { network: NETWORK, seq, timestamp: 1_700_000_002_000 + seq, payload: new Uint8Array(Buffer.from(text)) })
}

const add = async (parent: BlockHeader, txs: Transaction[], difficulty = 0): Promise<Block> => (await addChild(t.tree, parent, txs, difficulty)).block
const refusal = (parent: BlockHeader, txs: Transaction[]): Promise<ConsensusError> => refusedChild(t.tree, parent, txs)

describe('device registry in block import', () => {
  it('a registered device may originate records from the next block on, not in the registering block', async () => {
    const reg = register(sensor, 'press-7')
    expect((await refusal(t.tree.head().header, [reg, deviceRecord(sensor, 0)])).code).toBe('ERR_ORIGIN_NOT_MEMBER')
    const b1 = await add(t.tree.head().header, [reg])
    expect(t.tree.head().height).toBe(1)
    expect(t.tree.devices.get(toHex(sensor.publicKey))).toMatchObject({ deviceId: 'press-7', owner: toHex(origin.publicKey) })
    expect(t.tree.devices.list()).toHaveLength(1)
    await add(b1.header, [deviceRecord(sensor, 0), deviceRecord(sensor, 5)])
    expect(t.tree.head().height).toBe(2)
    // A second registration of the same key is refused; so are device kinds from non-members.
    expect((await refusal(t.tree.head().header, [register(sensor, 'again')])).code).toBe('ERR_DEVICE_TX')
    expect((await refusal(t.tree.head().header, [register(sensor2, 'by-device', sensor)])).code).toBe('ERR_ORIGIN_NOT_MEMBER')
  })

  it('revocation: records after the revoking block are refused, also by mempool, producer filter and checkIncomingTx', async () => {
    const b1 = await add(t.tree.head().header, [register(sensor, 'press-7')])
    // Only the owner may revoke.
    expect((await refusal(b1.header, [revoke(sensor, producer)])).code).toBe('ERR_DEVICE_TX')
    const late = deviceRecord(sensor, 1)
    const b2 = await add(b1.header, [revoke(sensor), deviceRecord(sensor, 0)]) // same block: still valid (parent view)
    expect(t.tree.head().height).toBe(2)
    const err = await refusal(b2.header, [late])
    expect(err.code).toBe('ERR_ORIGIN_REVOKED')
    expect(err.meta).toMatchObject({ txId: txIdHex(late), origin: toHex(sensor.publicKey), height: 3 })
    // Mempool: refused and counted, never stored.
    const before = t.tree.mempool.refusedOrigins()
    expect(await t.tree.mempool.add([late])).toBe(0)
    expect(t.tree.mempool.refusedOrigins()).toBe(before + 1)
    // Producer filter (what a block on the head may carry).
    const member = makeTx('member record')
    expect(t.tree.filterOrigins([late, member]).map(txIdHex)).toEqual([txIdHex(member)])
    // Ingest API check.
    expect(checkIncomingTx(late, { store: t.tree })).toMatchObject({ ok: false, code: 'REVOKED' })
    expect(checkIncomingTx(deviceRecord(sensor2, 0), { store: t.tree })).toMatchObject({ ok: false, code: 'UNKNOWN_DEVICE' })
    expect(checkIncomingTx(register(sensor2, 'x', sensor), { store: t.tree })).toMatchObject({ ok: false, code: 'NOT_MEMBER' })
    expect(checkIncomingTx(member, { store: t.tree })).toEqual({ ok: true })
    expect(t.tree.devices.refusals().get(toHex(sensor.publicKey))?.revoked).toBeGreaterThanOrEqual(2)
  })

  it('the registry follows the branch: a device registered on one branch only is unknown on the other, across reorgs', async () => {
    const g = t.tree.head().header
    // Branch A (canonical first): registers the sensor.
    const a1 = await add(g, [register(sensor, 'press-7')])
    // Branch B: heavier later, without the registration.
    const b1 = await add(g, [makeTx('b1')])
    expect(toHex(t.tree.head().hash)).toBe(toHex(blockHash(a1.header)) < toHex(blockHash(b1.header)) ? toHex(blockHash(a1.header)) : toHex(blockHash(b1.header)))
    const rec = deviceRecord(sensor, 0)
    // On B the device is unknown, whatever the canonical chain says.
    expect((await refusal(b1.header, [rec])).code).toBe('ERR_ORIGIN_NOT_MEMBER')
    // Make B canonical (heavier): the canonical registry no longer has the device.
    const b2 = await add(b1.header, [makeTx('b2')], 5)
    expect(toHex(t.tree.head().hash)).toBe(toHex(blockHash(b2.header)))
    expect(t.tree.devices.get(toHex(sensor.publicKey))).toBeUndefined()
    expect(checkIncomingTx(rec, { store: t.tree })).toMatchObject({ ok: false, code: 'UNKNOWN_DEVICE' })
    // On A (now a side branch) the device is registered: its record is valid there.
    const a2 = await add(a1.header, [rec])
    expect(await t.tree.hasBlock(blockHash(a2.header))).toBe(true)
    // A becomes canonical again (heavier): device back, its record canonical.
    const a3 = await add(a2.header, [], 10)
    expect(toHex(t.tree.head().hash)).toBe(toHex(blockHash(a3.header)))
    expect(t.tree.devices.get(toHex(sensor.publicKey))?.deviceId).toBe('press-7')
    expect(await t.tree.getTx(txIdHex(rec))).toBeDefined()
    // And it survives a reopen (rebuilt from the stored events).
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect(t.tree.devices.get(toHex(sensor.publicKey))?.deviceId).toBe('press-7')
    expect(checkIncomingTx(rec, { store: t.tree })).toEqual({ ok: true, duplicate: true })
  })
})

describe('a node that lags behind a device registration', () => {
  it('refuses the device block while its parent is unknown, marked parentUnknown (the node fetches parents), then takes it in order', async () => {
    const b1 = child(t.tree.head().header, { txs: [register(sensor, 'press-7')] })
    const recs = [deviceRecord(sensor, 0)]
    const b2 = child(b1.header, { txs: recs })
    const err = await t.tree.addBlock(b2, { payloads: payloadsOf(recs) }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ConsensusError)
    expect((err as ConsensusError).meta).toMatchObject({ parentUnknown: true, origin: toHex(sensor.publicKey) })
    expect((await t.tree.stats()).orphans).toBe(0)
    await t.tree.addBlock(b1)
    expect((await t.tree.addBlock(b2, { payloads: payloadsOf(recs) })).status).toBe('added')
    expect(t.tree.head().height).toBe(2)
  })
})

describe('device sequence numbers: duplicate vs replay', () => {
  it('the same tx again is a duplicate; another tx with a used (origin, seq) is a replay, refused and kept as evidence', async () => {
    const b1 = await add(t.tree.head().header, [register(sensor, 'press-7')])
    const first = deviceRecord(sensor, 3, 'first')
    const second = deviceRecord(sensor, 3, 'second')
    expect(checkIncomingTx(first, { store: t.tree })).toEqual({ ok: true })
    expect(await t.tree.mempool.add([first])).toBe(1)
    // Pending: the same tx is a duplicate, a different one with seq 3 a replay.
    expect(checkIncomingTx(first, { store: t.tree })).toEqual({ ok: true, duplicate: true })
    expect(checkIncomingTx(second, { store: t.tree })).toMatchObject({ ok: false, code: 'REPLAY' })
    expect(await t.tree.mempool.add([second])).toBe(0)
    // A block with both is invalid; a block with one, then a block with the other too.
    expect((await refusal(b1.header, [first, second])).code).toBe('ERR_ORIGIN_REPLAY')
    const b2 = await add(b1.header, [first])
    expect(t.tree.head().height).toBe(2)
    const err = await refusal(b2.header, [second])
    expect(err.code).toBe('ERR_ORIGIN_REPLAY')
    expect(err.meta).toMatchObject({ seq: 3, otherTxId: txIdHex(first) })
    // On the chain: duplicate / replay.
    expect(checkIncomingTx(first, { store: t.tree })).toEqual({ ok: true, duplicate: true })
    expect(checkIncomingTx(second, { store: t.tree })).toMatchObject({ ok: false, code: 'REPLAY' })
    // Gaps and reordering are fine.
    await add(b2.header, [deviceRecord(sensor, 9), deviceRecord(sensor, 4)])
    expect(t.tree.head().height).toBe(3)
    // Evidence and counts, durable (written in the background: wait for the store's queue).
    const deadline = Date.now() + 10_000
    while ((await t.tree.devices.evidence()).length === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r))
    const ev = await t.tree.devices.evidence()
    expect(ev.length).toBeGreaterThanOrEqual(1)
    expect(ev[0]).toMatchObject({ origin: toHex(sensor.publicKey), seq: 3, firstTxId: txIdHex(first), refusedTxId: txIdHex(second) })
    expect(t.tree.devices.refusals().get(toHex(sensor.publicKey))?.replays).toBeGreaterThanOrEqual(3)
    const replays = t.tree.devices.refusals().get(toHex(sensor.publicKey))?.replays
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect(t.tree.devices.refusals().get(toHex(sensor.publicKey))?.replays).toBe(replays)
    expect((await t.tree.devices.evidence()).length).toBe(ev.length)
  })
})

describe('pending device seqs (mempool)', () => {
  it('a pending seq is refused as a replay until its tx leaves the mempool; other pending seqs of the origin stay refused', async () => {
    const b1 = await add(t.tree.head().header, [register(sensor, 'press-7'), register(sensor2, 'press-8')])
    const a5 = deviceRecord(sensor, 5, 'a5')
    const a6 = deviceRecord(sensor, 6, 'a6')
    const c5 = deviceRecord(sensor2, 5, 'c5')
    expect(await t.tree.mempool.add([a5, a6, c5])).toBe(3)
    const replay5 = deviceRecord(sensor, 5, 'other 5')
    const replay6 = deviceRecord(sensor, 6, 'other 6')
    expect(checkIncomingTx(replay5, { store: t.tree })).toMatchObject({ ok: false, code: 'REPLAY' })
    expect(checkIncomingTx(replay6, { store: t.tree })).toMatchObject({ ok: false, code: 'REPLAY' })
    // Seq 5 of the other device is its own: sensor2's pending seq 5 does not refuse sensor's and vice versa.
    expect(checkIncomingTx(deviceRecord(sensor2, 6), { store: t.tree })).toEqual({ ok: true })
    // a5 leaves (evicted): seq 5 is free again, seq 6 (a6, still pending) is not.
    await t.tree.mempool.evict([txIdHex(a5)])
    expect(checkIncomingTx(replay5, { store: t.tree })).toEqual({ ok: true })
    expect(checkIncomingTx(replay6, { store: t.tree })).toMatchObject({ ok: false, code: 'REPLAY' })
    expect(await t.tree.mempool.add([replay5, replay6])).toBe(1)
    expect(t.tree.mempool.has(txIdHex(replay5))).toBe(true)
    // Into a block: the chain's seq index refuses them from then on, the pending entries are gone.
    const b2 = await add(b1.header, [replay5, a6, c5])
    expect(t.tree.mempool.size()).toBe(0)
    expect(checkIncomingTx(a5, { store: t.tree })).toMatchObject({ ok: false, code: 'REPLAY' })
    expect(checkIncomingTx(a6, { store: t.tree })).toEqual({ ok: true, duplicate: true })
    expect((await refusal(b2.header, [a5])).code).toBe('ERR_ORIGIN_REPLAY')
    // The other seqs of both devices are free.
    expect(checkIncomingTx(deviceRecord(sensor, 7), { store: t.tree })).toEqual({ ok: true })
    expect(checkIncomingTx(deviceRecord(sensor2, 6), { store: t.tree })).toEqual({ ok: true })
  })
})

describe('device seq index as of the head (seq bounds per origin)', () => {
  type Op = { kind: 'block'; back: number; device: number; seqs: number[]; heavier: boolean } | { kind: 'reopen' }
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('block' as const), back: fc.nat({ max: 3 }), device: fc.nat({ max: 1 }), seqs: fc.array(fc.nat({ max: 12 }), { minLength: 1, maxLength: 3 }), heavier: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
  )

  it('answers exactly what the canonical chain holds after random blocks, forks, reorgs and reopens (property)', async () => {
    const devices = [sensor, sensor2]
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        await t.tree.close()
        await rm(t.dir.path, { recursive: true, force: true })
        await mkdir(t.dir.path)
        t.tree = await openTree(t.dir.path)
        await add(t.tree.head().header, [register(sensor, 'press-7'), register(sensor2, 'press-8')])
        const check = async (): Promise<void> => {
          const want = new Map<string, string>()
          for await (const b of t.tree.blocks(1)) for (const tx of b.txs) if (tx.body.kind === 'record') want.set(`${toHex(tx.body.origin)}:${tx.body.seq}`, txIdHex(tx))
          const view = t.tree.devices.headView()
          for (const d of devices) {
            const o = toHex(d.publicKey)
            for (let seq = 0; seq <= 14; seq++) expect(view.seqTx(o, seq)).toBe(want.get(`${o}:${seq}`))
          }
        }
        for (const o of ops) {
          if (o.kind === 'reopen') {
            await t.tree.close()
            t.tree = await openTree(t.dir.path)
          } else {
            const height = Math.max(1, t.tree.head().height - o.back)
            const parent = (await t.tree.getHeaderByHeight(height)) as BlockHeader
            const txs = o.seqs.map((seq) => deviceRecord(devices[o.device], seq, `run ${run} seq ${seq} ${Math.random()}`))
            // Replays on that branch (or twice in one block) are refused: that block is simply not there.
            await addChild(t.tree, parent, txs, o.heavier ? 5 : 0).catch((err: Error) => {
              if (err.name !== 'ConsensusError') throw err
            })
          }
          await check()
        }
        run++
      }),
      {
        numRuns: 40,
        // A device's seqs before a reopen above the ones its next block brings (the bound must come from the DB too).
        examples: [
          [
            [
              { kind: 'block', back: 0, device: 0, seqs: [9], heavier: false },
              { kind: 'reopen' },
              { kind: 'block', back: 0, device: 0, seqs: [2], heavier: false },
              { kind: 'block', back: 1, device: 0, seqs: [3], heavier: true },
            ],
          ],
        ],
      },
    )
  })
})

describe('audit of origins (real LevelDB)', () => {
  it('reports records, seq range, gaps and reorders per origin; tampering only on evidence', async () => {
    const b1 = await add(t.tree.head().header, [register(sensor, 'press-7'), makeTx('member 1')])
    // seqs 0 1 2 5 4 9: gaps 3, 6-8; one reorder (4 after 5).
    const b2 = await add(b1.header, [0, 1, 2, 5].map((s) => deviceRecord(sensor, s)))
    await add(b2.header, [4, 9].map((s) => deviceRecord(sensor, s)))
    let report = await t.tree.auditOrigins()
    const dev = report.origins.find((o) => o.origin === toHex(sensor.publicKey))
    expect(dev).toMatchObject({
      role: 'device',
      name: 'press-7',
      owner: toHex(origin.publicKey),
      registeredHeight: 1,
      records: 6,
      seqMin: 0,
      seqMax: 9,
      gaps: 4,
      gapRanges: [
        [3, 3],
        [6, 8],
      ],
      reorders: 1,
      seqReuse: 0,
      replaysRefused: 0,
      outsideRegistration: 0,
      tampering: false,
    })
    expect(report.origins.find((o) => o.origin === toHex(origin.publicKey))).toMatchObject({ role: 'member', name: 'o', tampering: false })
    expect(report.tampering).toBe(false)
    // A refused replay is evidence of tampering with this device's records.
    expect(checkIncomingTx(deviceRecord(sensor, 4, 'forged'), { store: t.tree })).toMatchObject({ ok: false, code: 'REPLAY' })
    const deadline = Date.now() + 10_000
    while ((await t.tree.devices.evidence()).length === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r))
    report = await t.tree.auditOrigins()
    expect(report.origins.find((o) => o.origin === toHex(sensor.publicKey))).toMatchObject({ replaysRefused: 1, replayEvidence: 1, tampering: true })
    expect(report.tampering).toBe(true)
  })
})
