// c2sp.org/tlog-witness add-checkpoint: every status code of the spec, the state left unchanged by every refusal,
// the compare-and-swap race, evidence, and fuzzing of the request parser and of the whole handler.
import { equalBytes, keyPairFromSeed, sha256, type KeyPair } from '@profichain/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  TlogError,
  WITNESS_CONTENT_TYPE_SIZE,
  addCheckpoint,
  consistencyProof,
  cosignerVerifier,
  emptyRoot,
  formatAddCheckpoint,
  formatCheckpoint,
  leafHash,
  memorySubtree,
  noteVerifier,
  openNote,
  parseAddCheckpoint,
  parseTlogSize,
  rootOf,
  signNote,
  verifyCosignature,
  type AddCheckpointDeps,
  type WitnessState,
  type WitnessStateStore,
  type WitnessedLog,
} from '../src/tlog/index.js'

const kp = (n: number): KeyPair => keyPairFromSeed(sha256(new Uint8Array([n])))
const ORIGIN = 'example.com/log'
const LOG_KEY = kp(1)
const LOG_KEY_2 = kp(2)
const WITNESS = { name: 'witness.example/w1', keyPair: kp(9) }
const NOW = 1_764_400_000_123

const leaves = (n: number, tag = 'a', from = 0): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`${i < from ? 'a' : tag}${i}`)))
const HISTORY = leaves(40)

function checkpointNote(size: number, tree = HISTORY, keys: KeyPair[] = [LOG_KEY], origin = ORIGIN): string {
  const text = formatCheckpoint({ origin, size, root: rootOf(tree.slice(0, size)), extensions: [] })
  return signNote(text, keys.map((keyPair) => ({ name: origin, keyPair })))
}

async function request(oldSize: number, size: number, tree = HISTORY, keys: KeyPair[] = [LOG_KEY]): Promise<string> {
  const proof = oldSize === 0 ? [] : await consistencyProof(oldSize, size, memorySubtree(tree.slice(0, size)))
  return formatAddCheckpoint({ oldSize, proof, note: checkpointNote(size, tree, keys) })
}

function sameState(a: WitnessState | undefined, b: WitnessState | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return a.size === b.size && equalBytes(a.root, b.root) && a.note === b.note
}

class MemoryStore implements WitnessStateStore {
  readonly map = new Map<string, WitnessState>()
  writes = 0
  async get(origin: string): Promise<WitnessState | undefined> {
    await Promise.resolve()
    return this.map.get(origin)
  }
  async compareAndSwap(origin: string, expected: WitnessState | undefined, next: WitnessState): Promise<boolean> {
    await Promise.resolve()
    if (!sameState(this.map.get(origin), expected)) return false
    this.map.set(origin, next)
    this.writes++
    return true
  }
}

function setup(log: Partial<WitnessedLog> = {}): { deps: AddCheckpointDeps; store: MemoryStore } {
  const store = new MemoryStore()
  const witnessed: WitnessedLog = { origin: ORIGIN, verifiers: [noteVerifier(ORIGIN, LOG_KEY.publicKey)], threshold: 1, ...log }
  return {
    store,
    deps: { logs: (o) => (o === ORIGIN ? witnessed : undefined), state: store, signer: WITNESS, now: () => NOW },
  }
}

/** Runs one request that must be refused with `status`, and checks that nothing was stored. */
async function refused(deps: AddCheckpointDeps, store: MemoryStore, body: string | Uint8Array, status: number) {
  const before = store.map.get(ORIGIN)
  const writes = store.writes
  const res = await addCheckpoint(body, deps)
  expect(res.status, res.body).toBe(status)
  expect(store.writes).toBe(writes)
  expect(sameState(store.map.get(ORIGIN), before)).toBe(true)
  return res
}

const witnessVerifier = cosignerVerifier(WITNESS.name, WITNESS.keyPair.publicKey)

describe('add-checkpoint request body', () => {
  it('parses the spec’s example body', () => {
    const body =
      'old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\n' +
      'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n'
    const req = parseAddCheckpoint(body)
    expect(req.oldSize).toBe(20852014)
    expect(req.proof).toHaveLength(4)
    expect(req.note.startsWith('example.com/behind-the-sofa\n')).toBe(true)
    expect(formatAddCheckpoint(req)).toBe(body)
    expect(parseAddCheckpoint(new TextEncoder().encode(body))).toEqual(req)
  })

  it('format → parse round-trips', () => {
    fc.assert(
      fc.property(fc.nat(), fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 63 }), (oldSize, proof) => {
        const req = { oldSize, proof, note: checkpointNote(3) }
        expect(parseAddCheckpoint(formatAddCheckpoint(req))).toEqual({ ...req, proof: proof.map((p) => new Uint8Array(p)) })
      }),
      { numRuns: 100 },
    )
  })

  it('refuses malformed bodies with ERR_WITNESS_REQUEST_MALFORMED', () => {
    const note = checkpointNote(3)
    const h = Buffer.alloc(32).toString('base64')
    for (const b of [
      '',
      note,
      `old 3\n${note}`,
      `old 03\n\n${note}`,
      `old -1\n\n${note}`,
      `Old 3\n\n${note}`,
      `old  3\n\n${note}`,
      `old 3\n${h}`,
      `old 3\n${h}\n`,
      `old 3\n\n`,
      `old 3\n${Buffer.alloc(31).toString('base64')}\n\n${note}`,
      `old 3\n${h.slice(0, -1)}\n\n${note}`,
      `old 3\n${`${h}\n`.repeat(64)}\n${note}`,
      `old 99999999999999999999\n\n${note}`,
    ]) {
      expect(() => parseAddCheckpoint(b), JSON.stringify(b.slice(0, 60))).toThrow(TlogError)
    }
    expect(() => parseAddCheckpoint(new Uint8Array([0x6f, 0x6c, 0x64, 0x20, 0x30, 0x0a, 0x0a, 0xff]))).toThrow(TlogError)
    expect(parseAddCheckpoint(`old 3\n${`${h}\n`.repeat(63)}\n${note}`).proof).toHaveLength(63)
    expect(parseTlogSize('42\n')).toBe(42)
    for (const s of ['42', '042\n', '\n', 'x\n']) expect(() => parseTlogSize(s)).toThrow(TlogError)
  })
})

describe('addCheckpoint: every status code of c2sp.org/tlog-witness', () => {
  it('200: first checkpoint with old 0, then consistent growth, then the same checkpoint again', async () => {
    const { deps, store } = setup()
    const r1 = await addCheckpoint(await request(0, 5), deps)
    expect(r1.status, r1.body).toBe(200)
    expect(r1.contentType).toBe('text/plain; charset=utf-8')
    expect(r1.checkpoint?.size).toBe(5)
    expect(verifyCosignature(r1.body, checkpointNote(5), witnessVerifier)).toEqual({ timestamp: Math.floor(NOW / 1000) })
    expect(store.map.get(ORIGIN)?.size).toBe(5)
    // the stored note carries the log's signature and ours: it opens with both keys
    const opened = openNote(store.map.get(ORIGIN)!.note, [noteVerifier(ORIGIN, LOG_KEY.publicKey), witnessVerifier])
    expect(opened.verified).toHaveLength(2)

    for (const [from, to] of [[5, 13], [13, 16], [16, 17], [17, 40]]) {
      const r = await addCheckpoint(await request(from, to), deps)
      expect(r.status, `${from}→${to}: ${r.body}`).toBe(200)
      expect(store.map.get(ORIGIN)?.size).toBe(to)
    }
    const again = await addCheckpoint(await request(40, 40), deps)
    expect(again.status).toBe(200)
    expect(store.map.get(ORIGIN)?.size).toBe(40)
  })

  it('200: the empty tree (size 0, root SHA-256("")), and bytes as input', async () => {
    const { deps, store } = setup()
    const r = await addCheckpoint(new TextEncoder().encode(await request(0, 0)), deps)
    expect(r.status, r.body).toBe(200)
    expect(equalBytes(store.map.get(ORIGIN)!.root, emptyRoot())).toBe(true)
  })

  it('400: malformed body, note or checkpoint, and old size larger than the checkpoint size', async () => {
    const { deps, store } = setup()
    await addCheckpoint(await request(0, 5), deps)
    const note = checkpointNote(8)
    for (const b of [
      'garbage',
      `old 5\n\n${note.replace('\n\n', '\n')}`,
      `old 5\n\n${formatCheckpoint({ origin: ORIGIN, size: 8, root: rootOf(HISTORY.slice(0, 8)), extensions: [] })}`,
      `old 5\n\n${signNote('not\na checkpoint\n', [{ name: ORIGIN, keyPair: LOG_KEY }])}`,
      `old 5\n\n${note}`.replace('\u2014', '-'),
      new Uint8Array([0xc3, 0x28]),
    ]) {
      const res = await refused(deps, store, b, 400)
      expect(res.contentType).toBe('text/plain; charset=utf-8')
    }
    const tooOld = await refused(deps, store, formatAddCheckpoint({ oldSize: 9, proof: [], note }), 400)
    expect(tooOld.checkpoint?.size).toBe(8)
  })

  it('404: unknown origin', async () => {
    const { deps, store } = setup()
    const res = await refused(deps, store, formatAddCheckpoint({ oldSize: 0, proof: [], note: checkpointNote(3, HISTORY, [LOG_KEY], 'other.example/log') }), 404)
    expect(res.body).toContain('other.example/log')
  })

  it('403: no trusted signature, a forged trusted signature, fewer distinct keys than the threshold', async () => {
    const { deps, store } = setup()
    await addCheckpoint(await request(0, 5), deps)
    await refused(deps, store, await request(5, 8, HISTORY, [kp(3)]), 403)
    const good = await request(5, 8)
    const sigAt = good.lastIndexOf(' ') + 20 // inside the Ed25519 signature, after the key ID
    const forged = good.slice(0, sigAt) + (good[sigAt] === 'A' ? 'B' : 'A') + good.slice(sigAt + 1)
    expect((await refused(deps, store, forged, 403)).body).toContain('does not verify')
    // a second copy of the same signature does not count twice
    const dup = good + good.slice(good.lastIndexOf('\u2014'))
    expect((await addCheckpoint(dup, deps)).status).toBe(200)

    const two = setup({ verifiers: [noteVerifier(ORIGIN, LOG_KEY.publicKey), noteVerifier(ORIGIN, LOG_KEY_2.publicKey)], threshold: 2 })
    await refused(two.deps, two.store, await request(0, 5), 403)
    const dup2 = await request(0, 5)
    await refused(two.deps, two.store, dup2 + dup2.slice(dup2.lastIndexOf('\u2014')), 403)
    expect((await addCheckpoint(await request(0, 5, HISTORY, [LOG_KEY, LOG_KEY_2]), two.deps)).status).toBe(200)
  })

  it('409: old size other than the stored size (replay, stale client), body = stored size, text/x.tlog.size', async () => {
    const { deps, store } = setup()
    await addCheckpoint(await request(0, 13), deps)
    for (const body of [await request(0, 5), await request(0, 13), await request(5, 20), await request(14, 20)]) {
      const res = await refused(deps, store, body, 409)
      expect(res.contentType).toBe(WITNESS_CONTENT_TYPE_SIZE)
      expect(res.body).toBe('13\n')
      expect(parseTlogSize(res.body)).toBe(13)
      expect(res.evidence).toBeUndefined()
    }
    // a fresh witness answers 409 "0\n" to a client that assumes state
    const fresh = setup()
    expect((await refused(fresh.deps, fresh.store, await request(5, 8), 409)).body).toBe('0\n')
  })

  it('422: size 0 with another root, a proof with old size 0, a fork (evidence), a failing proof (evidence)', async () => {
    const { deps, store } = setup()
    const zero = signNote(formatCheckpoint({ origin: ORIGIN, size: 0, root: sha256(new Uint8Array([1])), extensions: [] }), [{ name: ORIGIN, keyPair: LOG_KEY }])
    await refused(deps, store, formatAddCheckpoint({ oldSize: 0, proof: [], note: zero }), 422)
    await refused(deps, store, formatAddCheckpoint({ oldSize: 0, proof: [HISTORY[0]], note: checkpointNote(5) }), 422)

    await addCheckpoint(await request(0, 13), deps)
    const stored = store.map.get(ORIGIN)!
    // the log signs another history from leaf 9 on: same size 13, another root
    const forked = leaves(40, 'b', 9)
    const fork = await refused(deps, store, formatAddCheckpoint({ oldSize: 13, proof: [], note: checkpointNote(13, forked) }), 422)
    expect(fork.evidence?.kind).toBe('fork')
    expect(sameState(fork.evidence?.previous, stored)).toBe(true)
    expect(fork.evidence?.offered).toBe(checkpointNote(13, forked))
    // the same fork offered with a wrong old size is a 409, but the evidence is still reported
    const fork409 = await refused(deps, store, formatAddCheckpoint({ oldSize: 5, proof: [], note: checkpointNote(13, forked) }), 409)
    expect(fork409.evidence?.kind).toBe('fork')
    // a larger forked checkpoint with the proof of the forked tree does not verify against the stored root
    const inconsistent = await refused(deps, store, await request(13, 20, forked), 422)
    expect(inconsistent.evidence?.kind).toBe('inconsistent')
    expect(inconsistent.evidence?.offered).toBe(checkpointNote(20, forked))
    // a wrong proof for the honest history is refused too; same size with a non-empty proof as well
    const good = parseAddCheckpoint(await request(13, 20))
    good.proof[0] = sha256(good.proof[0])
    await refused(deps, store, formatAddCheckpoint(good), 422)
    await refused(deps, store, formatAddCheckpoint({ oldSize: 13, proof: [HISTORY[0]], note: checkpointNote(13) }), 422)
    // and the honest next checkpoint still goes through
    expect((await addCheckpoint(await request(13, 20), deps)).status).toBe(200)
  })
})

describe('addCheckpoint: atomic state', () => {
  it('two concurrent requests from the same old size: exactly one is cosigned, the other gets 409 with the winner’s size', async () => {
    const { deps, store } = setup()
    await addCheckpoint(await request(0, 5), deps)
    const [a, b] = await Promise.all([addCheckpoint(await request(5, 8), deps), addCheckpoint(await request(5, 20), deps)])
    expect([a.status, b.status].sort()).toEqual([200, 409])
    const winner = a.status === 200 ? 8 : 20
    expect(store.map.get(ORIGIN)?.size).toBe(winner)
    expect((a.status === 409 ? a : b).body).toBe(`${winner}\n`)
  })

  it('a compare-and-swap lost to another writer is answered 409 and stores nothing of this request', async () => {
    const { deps, store } = setup()
    await addCheckpoint(await request(0, 5), deps)
    const racing: WitnessStateStore = {
      get: (o) => store.get(o),
      compareAndSwap: async (o, expected, next) => {
        store.map.set(o, { size: 30, root: rootOf(HISTORY.slice(0, 30)), note: checkpointNote(30) }) // another request won
        return store.compareAndSwap(o, expected, next)
      },
    }
    const res = await addCheckpoint(await request(5, 8), { ...deps, state: racing })
    expect(res.status).toBe(409)
    expect(res.body).toBe('30\n')
    expect(store.map.get(ORIGIN)?.size).toBe(30)
  })

  it('a store error propagates (the HTTP layer answers 500) and nothing is cosigned', async () => {
    const { deps } = setup()
    const failing: WitnessStateStore = {
      get: async () => undefined,
      compareAndSwap: async () => {
        throw new Error('disk full')
      },
    }
    await expect(addCheckpoint(await request(0, 5), { ...deps, state: failing })).rejects.toThrow('disk full')
  })
})

describe('addCheckpoint: fuzz', () => {
  it('random and mutated bodies get one of the spec’s statuses; the state changes only on 200', async () => {
    const { deps, store } = setup()
    await addCheckpoint(await request(0, 13), deps)
    const bases = [await request(13, 20), await request(13, 13), await request(0, 5), await request(13, 20, leaves(40, 'b', 9))]
    const mutated = fc
      .tuple(fc.nat(bases.length - 1), fc.nat(), fc.nat(8), fc.string({ unit: 'binary', maxLength: 6 }))
      .map(([k, i, del, ins]) => {
        const b = bases[k]
        const at = i % (b.length + 1)
        return b.slice(0, at) + ins + b.slice(at + del)
      })
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated, fc.string({ unit: 'binary' }), fc.uint8Array().map((u) => u as string | Uint8Array)), async (body) => {
        const before = store.map.get(ORIGIN)
        const writes = store.writes
        const res = await addCheckpoint(body, deps)
        expect([200, 400, 403, 404, 409, 422]).toContain(res.status)
        if (res.status !== 200) {
          expect(store.writes).toBe(writes)
          expect(sameState(store.map.get(ORIGIN), before)).toBe(true)
        } else {
          verifyCosignature(res.body, store.map.get(ORIGIN)!.note, witnessVerifier)
        }
        // keep the state where the bases apply
        store.map.set(ORIGIN, { size: 13, root: rootOf(HISTORY.slice(0, 13)), note: checkpointNote(13) })
      }),
      { numRuns: 600 },
    )
  })

  it('parseAddCheckpoint: random input gives a result or a TlogError, never another exception', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string().map((s) => `old ${s}`), fc.uint8Array().map((u) => u as string | Uint8Array)), (s) => {
        try {
          parseAddCheckpoint(s)
        } catch (err) {
          expect(err).toBeInstanceOf(TlogError)
        }
      }),
      { numRuns: 1000 },
    )
  })
})
