import { decodeTransaction, encodeStrippedTx, toHex, txId } from '@profichain/core'
import { put, writeBatch } from './context.js'
import { type BinaryDb, type Counts, decodeCounts, encodeCounts, LAYOUT_VERSION, META, readU64, type Subs, u64 } from './keys.js'
import { StoreError } from './types.js'

/**
 * Check the DB's layout version before anything else reads it: true for a layout-2 DB, which the caller
 * upgrades in place (`upgradeLayout2`) once the genesis check has passed (a DB of another network is refused
 * unchanged, still readable by the version that wrote it); another version is refused (ERR_STORE_LAYOUT); a
 * DB without one (but already initialised) is layout 1, refused as well. An empty DB gets the version with
 * its genesis.
 */
export async function checkLayout(_db: BinaryDb, subs: Subs, path: string): Promise<boolean> {
  const [stored, genesis] = await subs.meta.getMany([META.layout, META.genesis])
  if (stored === undefined && genesis === undefined) return false
  // A DB without a version predates it: layout 1.
  const version = stored === undefined ? 1 : stored.byteLength === 8 ? readU64(stored) : undefined
  if (version === LAYOUT_VERSION) return false
  if (version === 2 && LAYOUT_VERSION === 3) return true
  const found = version === undefined ? `an unreadable layout version (${stored?.byteLength} bytes)` : `layout version ${version}`
  const older =
    version === 1
      ? ' Layout 2 changed the network identity (the genesis hash commits to the whole genesis) and added the block log: ' +
        'a chain written before cannot be upgraded in place; create a new network (`profichain init`) with a fresh data dir, ' +
        'or keep running the old version for the old chain.'
      : ''
  throw new StoreError(
    'ERR_STORE_LAYOUT',
    `the data dir ${path} has ${found}, this version of profichain reads layout ${LAYOUT_VERSION} (and upgrades layout 2) only ` +
      '(docs/storage.md): use the profichain version that wrote it, or start with a fresh data dir.' + older,
    { path, found: version ?? null, expected: LAYOUT_VERSION },
  )
}

/** Outbox entries rewritten per synced batch of the upgrade. */
const UPGRADE_BATCH = 512

/** Layout 2 stored an outbox entry as encodeTransaction ([stripped, payload]: 0x82 0x82 …), layout 3 as encodeStrippedTx ([body, signature]: 0x82 0x89 …). */
export function isWholeTx(v: Uint8Array): boolean {
  return v.byteLength > 1 && v[0] === 0x82 && v[1] === 0x82
}

/**
 * Upgrade a layout-2 DB to layout 3 in place: each outbox entry written whole (tx + payload) becomes its
 * stripped tx, its payload goes to `payload` (counted in `counts`, as every payload write) unless stored there
 * already — then it is pinned (`payloadPin`: older code never deleted it at the ack, the upgraded store does
 * not either). Synced batches of `batchEntries` entries, each with the counts; the version 3 is written last.
 * Killed midway, the next open resumes: entries of both forms may exist, the form is read per entry, an
 * entry already rewritten is skipped. `stopAfterBatches` stops early without writing the version (tests).
 */
export async function upgradeLayout2(
  db: BinaryDb,
  subs: Subs,
  opts: { batchEntries?: number; stopAfterBatches?: number } = {},
): Promise<{ batches: number; entries: number; done: boolean }> {
  const per = Math.max(1, opts.batchEntries ?? UPGRADE_BATCH)
  const rawCounts = await subs.meta.get(META.counts)
  if (rawCounts === undefined) throw new StoreError('ERR_STORE_CORRUPT', 'store meta (counts) is missing: cannot upgrade the layout')
  let counts: Counts = decodeCounts(rawCounts)
  let batches = 0
  let entries = 0
  let after: Uint8Array | undefined
  for (;;) {
    const chunk: Array<[Uint8Array, Uint8Array]> = []
    for await (const kv of subs.outbox.iterator(after === undefined ? { limit: per } : { gt: after, limit: per })) chunk.push(kv)
    if (chunk.length === 0) break
    after = chunk[chunk.length - 1][0]
    const old = chunk.filter(([, v]) => isWholeTx(v))
    if (old.length === 0) continue
    const txs = old.map(([, v]) => decodeTransaction(v))
    const ids = txs.map((tx) => txId(tx))
    const stored = await subs.payload.getMany(ids)
    const b = db.batch()
    const next = { ...counts }
    const seen = new Set<string>()
    txs.forEach((tx, i) => {
      put(b, subs.outbox, old[i][0], encodeStrippedTx(tx))
      const hex = toHex(ids[i])
      if (seen.has(hex)) return
      seen.add(hex)
      if (stored[i] !== undefined) {
        put(b, subs.payloadPin, ids[i], new Uint8Array(0))
      } else {
        put(b, subs.payload, ids[i], tx.payload)
        next.payloads++
        next.payloadBytes += tx.payload.byteLength
      }
    })
    put(b, subs.meta, META.counts, encodeCounts(next))
    await writeBatch(b, 'upgrading the outbox to layout 3', { sync: true })
    counts = next
    batches++
    entries += old.length
    if (opts.stopAfterBatches !== undefined && batches >= opts.stopAfterBatches) return { batches, entries, done: false }
  }
  const b = db.batch()
  put(b, subs.meta, META.layout, u64(3))
  await writeBatch(b, 'writing layout version 3', { sync: true })
  return { batches, entries, done: true }
}
