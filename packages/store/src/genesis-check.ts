import { type Genesis, genesisBlock, genesisConfigHash, serializeGenesis } from '@profichain/consensus'
import { type Block, encodeHeader, equalBytes, toHex } from '@profichain/core'
import { put, writeBatch } from './context.js'
import { type BinaryDb, encodeBlockMeta, encodeCounts, encodeLeaves, LAYOUT_VERSION, META, type Subs, u64 } from './keys.js'
import { type BlockTreeInit, StoreError } from './types.js'

/** Block 0 of a network (the consensus package's definition, so every package agrees on the genesis hash). */
export function genesisBlockOf(genesis: Genesis): Block {
  return genesisBlock(genesis)
}

/**
 * The store's identity: a fresh DB gets the genesis block and the genesis digest; an existing one must have
 * been created with this genesis block (else ERR_STORE_NETWORK) and this full genesis (else GENESIS_MISMATCH).
 */
export async function checkGenesis(
  db: BinaryDb,
  subs: Subs,
  genesis: Genesis,
  block: Block,
  hash: Uint8Array,
  init: BlockTreeInit,
): Promise<void> {
  const stored = await subs.meta.get(META.genesis)
  if (stored === undefined) {
    await initGenesis(db, subs, genesis, block, hash)
  } else if (!equalBytes(stored, hash)) {
    // Same network id, other genesis fields (the hash commits to all of them): name the fields that changed.
    const json = await subs.meta.get(META.genesisJson)
    if (json !== undefined && sameNetwork(Buffer.from(json).toString('utf8'), genesis.network))
      await checkGenesisConfig(db, subs, genesis, init)
    throw new StoreError(
      'ERR_STORE_NETWORK',
      `the store belongs to another network (genesis ${toHex(stored)}), this node's genesis is ${toHex(hash)}`,
      { stored: toHex(stored), expected: toHex(hash) },
    )
  } else {
    await checkGenesisConfig(db, subs, genesis, init)
  }
}

/**
 * The full genesis (every field, not only what the genesis block commits to) must be the one the DB was
 * created with: a changed blockTimeMs or member list would otherwise start silently.
 */
async function checkGenesisConfig(db: BinaryDb, subs: Subs, genesis: Genesis, init: BlockTreeInit): Promise<void> {
  const [digest, json] = await subs.meta.getMany([META.genesisConfig, META.genesisJson])
  const want = genesisConfigHash(genesis)
  const wantJson = serializeGenesis(genesis)
  if (digest === undefined) {
    const b = db.batch()
    put(b, subs.meta, META.genesisConfig, want)
    put(b, subs.meta, META.genesisJson, new Uint8Array(Buffer.from(wantJson, 'utf8')))
    await writeBatch(b, 'storing the genesis digest', { sync: true })
    init.log?.('store: genesis digest stored (store created by an older version)', {
      genesisConfigHash: toHex(want),
    })
    return
  }
  if (equalBytes(digest, want)) return
  const source = init.genesisSource ?? "this node's genesis"
  const diffs = json === undefined ? [] : genesisDiff(Buffer.from(json).toString('utf8'), wantJson)
  throw new StoreError(
    'GENESIS_MISMATCH',
    `genesis file ${source} differs from the genesis this data dir was created with` +
      `${diffs.length > 0 ? ` (${diffs.join('; ')})` : ''}: restore the original genesis file, or start ` +
      'with a fresh data dir for a new network',
    { source, stored: toHex(digest), expected: toHex(want), differences: diffs },
  )
}

async function initGenesis(db: BinaryDb, subs: Subs, genesis: Genesis, g: Block, hash: Uint8Array): Promise<void> {
  const b = db.batch()
  const s = subs
  put(b, s.header, hash, encodeHeader(g.header))
  put(b, s.leaves, hash, encodeLeaves([]))
  put(b, s.blockMeta, hash, encodeBlockMeta({ height: 0, totalWork: 0n }))
  put(b, s.canonical, u64(0), hash)
  put(b, s.meta, META.head, hash)
  put(b, s.meta, META.final, hash)
  put(b, s.meta, META.counts, encodeCounts({ blocks: 1, txs: 0, payloads: 0, payloadBytes: 0 }))
  // Genesis last-but-one, layout last: a DB with a genesis key is always fully initialised (one batch anyway).
  put(b, s.meta, META.genesisConfig, genesisConfigHash(genesis))
  put(b, s.meta, META.genesisJson, new Uint8Array(Buffer.from(serializeGenesis(genesis), 'utf8')))
  put(b, s.meta, META.genesis, hash)
  put(b, s.meta, META.layout, u64(LAYOUT_VERSION))
  await writeBatch(b, 'initialising the store', { sync: true })
}

function sameNetwork(storedJson: string, network: string): boolean {
  try {
    return (JSON.parse(storedJson) as { network?: unknown }).network === network
  } catch {
    return false
  }
}

/** Field-level differences between two serialized geneses, e.g. `blockTimeMs: 1000 → 2000`. */
function genesisDiff(storedJson: string, currentJson: string): string[] {
  const out: string[] = []
  const walk = (path: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) === JSON.stringify(b)) return
    const obj = (x: unknown) => typeof x === 'object' && x !== null
    if (obj(a) && obj(b) && Array.isArray(a) === Array.isArray(b)) {
      const ra = a as Record<string, unknown>
      const rb = b as Record<string, unknown>
      for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
        walk(path === '' ? k : Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`, ra[k], rb[k])
      }
      return
    }
    const show = (x: unknown) => (x === undefined ? '(none)' : JSON.stringify(x))
    out.push(`${path}: ${show(a)} → ${show(b)}`)
  }
  try {
    walk('', JSON.parse(storedJson), JSON.parse(currentJson))
  } catch {
    return []
  }
  return out
}
