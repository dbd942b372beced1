import { EventEmitter } from 'node:events'
import { type AddressInfo } from 'node:net'
import { createServer } from 'node:http'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BlockHeader, blockHash, buildNativeReceipt, createBlock, keyPairFromSeed, signHeader, stripTx, type Transaction, toHex, txId, utf8 } from '@profichain/core'
import {
  type Checkpoint,
  cosign,
  decodeEntanglementProof,
  encodeWitnessReply,
  formatCheckpoint,
  formatVkey,
  leafHash,
  parseAddCheckpoint,
  rootOf,
  signNote,
  verifyCosignature,
} from '@profichain/global'
import type { TxLocation } from '@profichain/store'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createPartners, loadOrCreateHpkeKey, type PartnerLink, type PartnersComponents } from '../src/index.js'
import { PartnersStateFile } from '../src/partners/state.js'
import { silent } from './fakes.js'

const key = (t: number) => keyPairFromSeed(new Uint8Array(32).fill(t))
const OWN = 'own.example/log'
const PARTNER = 'partner.example/log'
const own = key(1)
const partnerKey = key(2)

function checkpointAt(size: number) {
  const leaves = Array.from({ length: size }, (_, i) => leafHash(utf8(`b${i}`)))
  const checkpoint: Checkpoint = { origin: OWN, size, root: rootOf(leaves), extensions: [] }
  const text = formatCheckpoint(checkpoint)
  return { checkpoint, text, note: signNote(text, [{ name: OWN, keyPair: own }]) }
}

/** The parts around the partners subsystem, in memory; the link answers with `answer(request)`. */
async function setup(answer: (body: string) => { status: number; contentType: string; body: string }) {
  const dir = await mkdtemp(join(tmpdir(), 'partners-unit-'))
  const requests: string[] = []
  const cosigs: string[] = []
  let latest = checkpointAt(10)
  const submitted: Array<{ tx: Transaction; dedupeKey?: string }> = []
  const link: PartnerLink = {
    request: async (_network, _type, body) => {
      const text = new TextDecoder().decode(body)
      requests.push(text)
      const r = answer(text)
      return encodeWitnessReply({ status: r.status, contentType: r.contentType, body: utf8(r.body) })
    },
    send: async () => {},
    handle: () => {},
  }
  const witness = new EventEmitter()
  const registry = new Registry()
  const c: PartnersComponents = {
    partners: {
      list: () => [{ name: 'p', origin: PARTNER, vkeys: [formatVkey(PARTNER, partnerKey.publicKey)], threshold: 1, encryptionKey: '11'.repeat(32) }],
      byOrigin: (o) => (o === PARTNER ? c.partners.list()[0] : undefined),
    },
    checkpoints: {
      latest: async () => latest,
      // As the real checkpoint store: keep the line only when it verifies.
      addCosignature: async (text, line, verifier) => {
        try {
          verifyCosignature(line, text, verifier)
        } catch {
          return false
        }
        cosigs.push(line)
        return true
      },
    },
    blockLog: { consistencyProof: async (a, b) => (a === b ? [] : [new Uint8Array(32).fill(a)]), inclusionProof: async () => [] },
    witness: Object.assign(witness, { addCheckpoint: async () => ({ status: 200, contentType: 'text/plain', body: '' }) }) as unknown as PartnersComponents['witness'],
    link,
    submitOwn: async (items) => {
      submitted.push(...items)
      return items.map((i) => ({ txId: toHex(txId(i.tx)), duplicate: false }))
    },
    store: {
      getTx: async () => undefined,
      getPayload: async () => undefined,
      head: () => ({ height: 0 }),
      blocks: async function* () {},
      receiptAt: async () => undefined,
      outbox: { nextSeq: async () => 5, lookup: async () => undefined },
    } as unknown as PartnersComponents['store'],
    key: own,
    logger: silent,
    registry,
  }
  const svc = createPartners(
    { dir, network: 'own-net', origin: OWN, genesisHash: new Uint8Array(32), ownVkeys: [formatVkey(OWN, own.publicKey)], confirmations: 1, anchorBase: () => 'http://own', intervalMs: 60_000 },
    c,
  )
  await svc.start()
  const cosigned: number[] = []
  svc.on('cosigned', (e) => cosigned.push(e.size))
  const failures: string[] = []
  svc.on('failure', (f) => failures.push(String((f.err as Error)?.message ?? f.err)))
  return { svc, dir, requests, cosigs, cosigned, failures, submitted, witness, registry, setLatest: (n: number) => (latest = checkpointAt(n)) }
}

async function settle(svc: { tick(): Promise<void> }, until: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000
  while (!until()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await svc.tick()
    await new Promise((r) => setImmediate(r))
  }
}

describe('partners subsystem', () => {
  it('offers the latest checkpoint from size 0, keeps the cosignature, then offers later ones with a consistency proof', async () => {
    const t = await setup((body) => {
      const req = parseAddCheckpoint(body)
      const text = req.note.slice(0, req.note.indexOf('\n\n') + 1)
      return { status: 200, contentType: 'text/plain; charset=utf-8', body: cosign(text, PARTNER, partnerKey, 1_700_000_000) }
    })
    await settle(t.svc, () => t.cosigned.length === 1)
    expect(parseAddCheckpoint(t.requests[0]).oldSize).toBe(0)
    t.setLatest(14)
    await settle(t.svc, () => t.cosigned.length === 2)
    expect(t.cosigs).toHaveLength(2)
    const second = parseAddCheckpoint(t.requests[1])
    expect(second.oldSize).toBe(10)
    expect(second.proof).toHaveLength(1)
    expect((await t.svc.report())[0].cosignedSize).toBe(14)
    // Persisted: a new state file reader sees it.
    const st = new PartnersStateFile(t.dir)
    await st.load()
    expect(st.progress(PARTNER).cosignedSize).toBe(14)
    await t.svc.stop()
  })

  it('409 with the witness size: offers again from that size', async () => {
    const t = await setup((body) => {
      const req = parseAddCheckpoint(body)
      if (req.oldSize !== 7) return { status: 409, contentType: 'text/x.tlog.size', body: '7\n' }
      const text = req.note.slice(0, req.note.indexOf('\n\n') + 1)
      return { status: 200, contentType: 'text/plain; charset=utf-8', body: cosign(text, PARTNER, partnerKey, 1) }
    })
    await settle(t.svc, () => t.cosigned.length === 1)
    expect(t.requests.map((r) => parseAddCheckpoint(r).oldSize)).toEqual([0, 7])
    expect(await t.registry.getSingleMetricAsString('profichain_partners_refused_total')).toMatch(/status="409"} 1/)
    await t.svc.stop()
  })

  it('a refusal (422) is counted, nothing is stored as cosigned; a 200 without a valid cosignature is not accepted', async () => {
    let status = 422
    const t = await setup(() => ({ status, contentType: 'text/plain', body: status === 422 ? 'inconsistent\n' : '— partner.example/log AAAA\n' }))
    await settle(t.svc, () => t.failures.some((f) => f.includes('answered 422')))
    expect((await t.svc.report())[0].cosignedSize).toBe(0)
    expect(await t.registry.getSingleMetricAsString('profichain_partners_refused_total')).toMatch(/status="422"}/)
    status = 200
    await settle(t.svc, () => t.failures.some((f) => f.includes('without a valid cosignature')))
    expect((await t.svc.report())[0].cosignedSize).toBe(0)
    expect(t.cosigs).toEqual([])
    await t.svc.stop()
  })

  it('one anchor tx per cosigned (origin, size), even when the witness cosigns the same checkpoint twice', async () => {
    const t = await setup(() => ({ status: 500, contentType: 'text/plain', body: '' }))
    const cp = { origin: PARTNER, checkpoint: { origin: PARTNER, size: 3, root: new Uint8Array(32).fill(3), extensions: [] }, note: 'n\n' }
    t.witness.emit('cosigned', cp)
    t.witness.emit('cosigned', cp)
    await settle(t.svc, () => t.submitted.length >= 1)
    await t.svc.stop() // waits for the anchoring queue
    expect(t.submitted).toHaveLength(1)
    expect(t.submitted[0].dedupeKey).toBe(`anchor:${PARTNER}:3`)
    expect(t.submitted[0].tx.body.kind).toBe('anchor')
    expect(t.submitted[0].tx.body.seq).toBe(5)
    expect((await t.svc.report())[0].anchors).toEqual([3])
  })

  it('an entanglement proof that does not decode or verify is refused and counted, nothing stored', async () => {
    const t = await setup(() => ({ status: 500, contentType: 'text/plain', body: '' }))
    await expect(t.svc.receiveEntanglement(utf8('garbage'), PARTNER)).rejects.toMatchObject({ code: 'ERR_ENTANGLE_MALFORMED' })
    expect(await t.registry.getSingleMetricAsString('profichain_partners_entanglements_rejected_total')).toMatch(/reason="ERR_ENTANGLE_MALFORMED"} 1/)
    expect((await t.svc.report())[0].entanglements).toEqual([])
    await t.svc.stop()
  })
})

describe('partners subsystem over HTTP', () => {
  it('a partner with only a witnessUrl gets the entanglement proof of a final anchor by POST /entanglement; a 5xx is retried', async () => {
    const bodies: Buffer[] = []
    let fail = true
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        if (req.url === '/entanglement') bodies.push(Buffer.concat(chunks))
        res.writeHead(fail ? 503 : 200).end(fail ? 'busy' : 'stored')
        fail = false
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const dir = await mkdtemp(join(tmpdir(), 'partners-http-'))
    const leaves = Array.from({ length: 4 }, (_, i) => leafHash(utf8(`p${i}`)))
    const pcp = { origin: PARTNER, size: 4, root: rootOf(leaves), extensions: [] }
    // The anchor the subsystem submits lands in block 5 (head 9: final at 3 confirmations).
    let placed: { tx: Transaction; loc: TxLocation; header: BlockHeader } | undefined
    const place = (tx: Transaction) => {
      const block = createBlock({ network: 'own-net', height: 5, timestamp: 1_700_000_000_000, prevHash: new Uint8Array(32), producer: own.publicKey, txs: [stripTx(tx)] })
      block.header.signatures.push(signHeader(block.header, own))
      placed = { tx, header: block.header, loc: { tx: stripTx(tx), txId: toHex(txId(tx)), blockHash: blockHash(block.header), height: 5, index: 0 } }
    }
    const witness = new EventEmitter()
    const c: PartnersComponents = {
      partners: {
        list: () => [{ name: 'p', origin: PARTNER, vkeys: [formatVkey(PARTNER, partnerKey.publicKey)], threshold: 1, witnessUrl: url }],
        byOrigin: (o) => (o === PARTNER ? c.partners.list()[0] : undefined),
      },
      checkpoints: { latest: async () => undefined, addCosignature: async () => false },
      blockLog: { consistencyProof: async () => [], inclusionProof: async () => [] },
      witness: witness as unknown as PartnersComponents['witness'],
      submitOwn: async (items) => {
        place(items[0].tx)
        return items.map((i) => ({ txId: toHex(txId(i.tx)), duplicate: false }))
      },
      store: {
        getTx: async (id: string) => (placed && id === placed.loc.txId ? placed.loc : undefined),
        getPayload: async () => placed?.tx.payload,
        head: () => ({ height: 9 }),
        blocks: async function* () {},
        receiptAt: async () => placed && buildNativeReceipt({ tx: placed.loc.tx, header: placed.header, leafIndex: 0, auditPath: [], anchorBase: 'http://own' }),
        outbox: { nextSeq: async () => 0, lookup: async () => undefined },
      } as unknown as PartnersComponents['store'],
      key: own,
      logger: silent,
    }
    const svc = createPartners(
      { dir, network: 'own-net', origin: OWN, genesisHash: new Uint8Array(32).fill(4), ownVkeys: [formatVkey(OWN, own.publicKey)], confirmations: 3, anchorBase: () => 'http://own', intervalMs: 60_000 },
      c,
    )
    await svc.start()
    witness.emit('cosigned', { origin: PARTNER, checkpoint: pcp, note: 'note\n' })
    await settle(svc, () => bodies.length >= 2)
    await svc.stop()
    server.close()
    expect(bodies[1]).toEqual(bodies[0]) // the same proof again after the 503
    const proof = decodeEntanglementProof(new Uint8Array(bodies[1]))
    expect(proof.partnerOrigin).toBe(OWN)
    expect(toHex(txId(proof.tx))).toBe(placed?.loc.txId)
    expect(proof.tx.body.kind).toBe('anchor')
    expect(proof.anchorBase).toBe('http://own')
  })
})

describe('HPKE key file', () => {
  it('is created once (0600) and read back; a corrupt file is a clear config error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hpke-'))
    const path = join(dir, 'hpke.key')
    const a = await loadOrCreateHpkeKey(path)
    const b = await loadOrCreateHpkeKey(path)
    expect(b.publicKey).toEqual(a.publicKey)
    expect((await readFile(path, 'utf8')).trim()).toMatch(/^[0-9a-f]{64}$/)
    await writeFile(path, 'nope\n')
    await expect(loadOrCreateHpkeKey(path)).rejects.toMatchObject({ code: 'ERR_CONFIG' })
  })
})
