// The witness service over LevelDB (DESIGN §11): every tlog-witness status code through the service, the state
// kept by compare-and-swap and surviving a reopen, evidence on a fork (bounded), the `cosigned` event; partners.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CodecError, encodeCbor, sha256 } from '@profichain/core'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  type CosignedEvent,
  createEvidenceStore,
  createPartnerRegistry,
  createWitnessService,
  createWitnessStateStore,
  decodeState,
  LogError,
  type Partner,
  parsePartners,
  readPartnersFile,
  writePartnersFile,
} from '../src/log/index.js'
import {
  consistencyProof,
  formatAddCheckpoint,
  formatCheckpoint,
  formatVkey,
  leafHash,
  memorySubtree,
  openNote,
  parseVkey,
  rootOf,
  signNote,
} from '../src/tlog/index.js'
import { openKv, seedKey, tempDir } from './log-helpers.js'

const A = 'a.example/profichain/a'
const B = 'b.example/profichain/b'
const aKey = seedKey(1)
const bKey = seedKey(2)
const leaves = Array.from({ length: 40 }, (_, i) => leafHash(sha256(new Uint8Array([i]))))
const forkLeaves = leaves.map((l, i) => (i < 10 ? l : leafHash(sha256(new Uint8Array([i, 1])))))

function note(size: number, ls = leaves, key = aKey, origin = A): string {
  return signNote(formatCheckpoint({ origin, size, root: rootOf(ls.slice(0, size)), extensions: [] }), [{ name: origin, keyPair: key }])
}
async function req(oldSize: number, size: number, ls = leaves, key = aKey, origin = A): Promise<string> {
  const proof = oldSize === 0 || oldSize === size ? [] : await consistencyProof(oldSize, size, memorySubtree(ls))
  return formatAddCheckpoint({ oldSize, proof, note: note(size, ls, key, origin) })
}

let dir: { path: string; cleanup: () => Promise<void> }
let db: Awaited<ReturnType<typeof openKv>>
const partnerA: Partner = { name: 'a', origin: A, vkeys: [formatVkey(A, aKey.publicKey)], threshold: 1 }

beforeEach(async () => {
  dir = await tempDir()
  db = await openKv(join(dir.path, 'db'))
  await writePartnersFile(dir.path, [partnerA])
})
afterEach(async () => {
  await db.close()
  await dir.cleanup()
})

async function service() {
  const partners = await createPartnerRegistry({ configPartners: [], dataDir: dir.path })
  return createWitnessService({ origin: B, maxEvidencePerOrigin: 3 }, { kv: db.kv, keyPair: bKey, partners, now: () => 1_700_000_000_000 })
}

describe('witness service', () => {
  it('answers every status code of c2sp.org/tlog-witness, changing the state only on 200', async () => {
    const w = await service()
    const cosigned: CosignedEvent[] = []
    w.on('cosigned', (e) => cosigned.push(e))
    // 400 malformed
    let r = await w.addCheckpoint('old x\n\nnot a note')
    expect(r.status).toBe(400)
    // 404 unknown origin
    r = await w.addCheckpoint(await req(0, 5, leaves, aKey, 'c.example/c'))
    expect(r.status).toBe(404)
    // 403 signed by a key the partner does not use
    r = await w.addCheckpoint(await req(0, 5, leaves, seedKey(9)))
    expect(r.status).toBe(403)
    expect(await w.state.get(A)).toBeUndefined()
    // 200 first checkpoint, old 0
    r = await w.addCheckpoint(await req(0, 5))
    expect(r.status).toBe(200)
    expect(r.contentType).toMatch(/^text\/plain/)
    const verified = openNote(`${note(5)}${r.body}`, [parseVkey(w.vkey)]).verified
    expect(verified).toHaveLength(1)
    expect(cosigned).toHaveLength(1)
    expect(cosigned[0]).toMatchObject({ origin: A, checkpoint: { origin: A, size: 5 } })
    expect(openNote(cosigned[0].note, [parseVkey(w.vkey)]).verified).toHaveLength(1)
    expect((await w.state.get(A))?.size).toBe(5)
    // 409 old size not the stored one, body = stored size
    r = await w.addCheckpoint(await req(3, 9))
    expect(r).toMatchObject({ status: 409, contentType: 'text/x.tlog.size', body: '5\n' })
    // 422 a consistency proof that does not verify
    const proof = await consistencyProof(5, 12, memorySubtree(leaves))
    proof[0] = proof[0].slice()
    proof[0][0] ^= 1
    r = await w.addCheckpoint(formatAddCheckpoint({ oldSize: 5, proof, note: note(12) }))
    expect(r.status).toBe(422)
    // 400 old size above the checkpoint size
    r = await w.addCheckpoint(formatAddCheckpoint({ oldSize: 6, proof: [], note: note(5) }))
    expect(r.status).toBe(400)
    expect((await w.state.get(A))?.size).toBe(5)
    // 200 consistent growth
    r = await w.addCheckpoint(await req(5, 12))
    expect(r.status).toBe(200)
    expect((await w.state.get(A))?.size).toBe(12)
    expect(cosigned).toHaveLength(2)
  })

  it('keeps both signed checkpoints as evidence when a partner forks, bounded per origin; state survives a reopen', async () => {
    let w = await service()
    expect((await w.addCheckpoint(await req(0, 20))).status).toBe(200)
    // Same size, other root: a fork.
    const fork = await w.addCheckpoint(await req(20, 20, forkLeaves))
    expect(fork.status).toBe(422)
    // Bigger, inconsistent.
    const inc = await w.addCheckpoint(formatAddCheckpoint({ oldSize: 20, proof: await consistencyProof(20, 30, memorySubtree(forkLeaves)), note: note(30, forkLeaves) }))
    expect(inc.status).toBe(422)
    let ev = await w.evidence.list(A)
    expect(ev.map((e) => e.kind).sort()).toEqual(['fork', 'inconsistent'])
    expect(ev[0].previous).toContain(`\n20\n`)
    expect(ev.some((e) => e.offered === note(20, forkLeaves))).toBe(true)
    // Reopen the DB: the state and the evidence are still there.
    await db.close()
    db = await openKv(join(dir.path, 'db'))
    w = await service()
    expect((await w.state.get(A))?.size).toBe(20)
    expect(await w.evidence.list(A)).toHaveLength(2)
    // Replaying the old checkpoint: 409, nothing recorded.
    expect((await w.addCheckpoint(await req(0, 20))).status).toBe(409)
    for (let i = 0; i < 4; i++) await w.addCheckpoint(await req(20, 20, forkLeaves))
    ev = await w.evidence.list(A)
    expect(ev).toHaveLength(3) // bounded
    expect((await w.state.get(A))?.size).toBe(20)
  })

  it('compareAndSwap replaces only the expected state (atomic under concurrency)', async () => {
    const s = createWitnessStateStore(db.kv)
    const s1 = { size: 1, root: new Uint8Array(32), note: 'x' }
    const s2 = { size: 2, root: new Uint8Array(32).fill(1), note: 'y' }
    const results = await Promise.all([s.compareAndSwap(A, undefined, s1), s.compareAndSwap(A, undefined, s2)])
    expect(results.filter(Boolean)).toHaveLength(1)
    const now = await s.get(A)
    expect(await s.compareAndSwap(A, { ...(now as typeof s1), note: 'other' }, s1)).toBe(false)
    expect(await s.compareAndSwap(A, now, s2)).toBe(true)
    expect((await s.get(A))?.size).toBe(2)
  })

  it('decodeState: random and mutated bytes give a typed error, never a crash (fuzz)', () => {
    const good = encodeCbor([3, new Uint8Array(32), 'note'])
    expect(decodeState(good).size).toBe(3)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (bytes, at, v) => {
        for (const b of [bytes, (() => { const m = good.slice(); m[at % m.length] = v; return m })()]) {
          try {
            decodeState(b)
          } catch (err) {
            expect(err).toBeInstanceOf(CodecError)
          }
        }
      }),
      { numRuns: 500 },
    )
  })

  it('evidence store lists newest first across origins', async () => {
    const e = createEvidenceStore(db.kv, 2)
    await e.add({ origin: A, kind: 'fork', at: 1, previous: 'p', offered: 'o' })
    await e.add({ origin: B, kind: 'inconsistent', at: 2, previous: 'p', offered: 'o' })
    expect((await e.list()).map((x) => x.origin)).toEqual([B, A])
  })
})

describe('partners', () => {
  it('validates partners and names the bad field', () => {
    expect(parsePartners([partnerA])).toEqual([partnerA])
    expect(() => parsePartners([{ ...partnerA, vkeys: ['nope'] }])).toThrow(/vkeys\[0\]/)
    expect(() => parsePartners([{ ...partnerA, vkeys: [formatVkey(B, aKey.publicKey)] }])).toThrow(/not the partner's origin/)
    expect(() => parsePartners([{ ...partnerA, threshold: 2 }])).toThrow(/threshold/)
    expect(() => parsePartners([partnerA, { ...partnerA, name: 'x' }])).toThrow(/duplicate origin/)
    expect(() => parsePartners([{ ...partnerA, broker: 'not a url' }])).toThrow(LogError)
    expect(() => parsePartners([{ ...partnerA, extra: 1 }])).toThrow(/unknown field/)
  })

  it('reads partners.json written atomically; the registry reloads it and config partners win', async () => {
    expect(await readPartnersFile(dir.path)).toEqual([partnerA])
    const other: Partner = { ...partnerA, witnessUrl: 'http://127.0.0.1:9/x' }
    const reg = await createPartnerRegistry({ configPartners: [other], dataDir: dir.path })
    expect(reg.byOrigin(A)?.witnessUrl).toBe('http://127.0.0.1:9/x')
    await writePartnersFile(dir.path, [partnerA, { name: 'b', origin: B, vkeys: [formatVkey(B, bKey.publicKey)], threshold: 1 }])
    await reg.reload()
    expect(reg.list().map((p) => p.name)).toEqual(['a', 'b'])
    await writeFile(join(dir.path, 'partners.json'), '{ broken')
    await expect(reg.reload()).rejects.toMatchObject({ code: 'ERR_PARTNERS' })
  })
})

describe('partner and witness config parsers (fuzz)', () => {
  it('random JSON values give LogError ERR_PARTNERS or a valid value, never another error', async () => {
    const { parseOutsideWitness } = await import('../src/log/index.js')
    const vals = fc.oneof(
      fc.jsonValue(),
      fc.record({ name: fc.string(), origin: fc.string(), vkeys: fc.array(fc.string()), threshold: fc.integer() }, { requiredKeys: [] }),
      fc.record({ url: fc.oneof(fc.webUrl(), fc.string()), vkey: fc.string() }, { requiredKeys: [] }),
    )
    fc.assert(
      fc.property(vals, (v) => {
        for (const f of [() => parsePartners([v]), () => parsePartners(v), () => parseOutsideWitness(v)]) {
          try {
            f()
          } catch (err) {
            expect(err).toBeInstanceOf(LogError)
            expect((err as LogError).code).toBe('ERR_PARTNERS')
          }
        }
      }),
      { numRuns: 150 },
    )
  })
})
