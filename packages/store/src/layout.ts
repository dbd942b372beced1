import { put, writeBatch } from './context.js'
import { type BinaryDb, LAYOUT_VERSION, META, readU64, type Subs, u64 } from './keys.js'
import { StoreError } from './types.js'

/**
 * Check the DB's layout version before anything else reads it: another version is refused
 * (ERR_STORE_LAYOUT); a DB without one (but already initialised) is layout 1 and gets the version written.
 * An empty DB gets it with its genesis.
 */
export async function checkLayout(db: BinaryDb, subs: Subs, path: string): Promise<void> {
  const [stored, genesis] = await subs.meta.getMany([META.layout, META.genesis])
  if (stored === undefined) {
    if (genesis === undefined) return
    const b = db.batch()
    put(b, subs.meta, META.layout, u64(LAYOUT_VERSION))
    await writeBatch(b, 'storing the layout version', { sync: true })
    return
  }
  const version = stored.byteLength === 8 ? readU64(stored) : undefined
  if (version === LAYOUT_VERSION) return
  const found = version === undefined ? `an unreadable layout version (${stored.byteLength} bytes)` : `layout version ${version}`
  throw new StoreError(
    'ERR_STORE_LAYOUT',
    `the data dir ${path} has ${found}, this version of profichain reads layout ${LAYOUT_VERSION} only ` +
      '(docs/storage.md): use the profichain version that wrote it, or start with a fresh data dir',
    { path, found: version ?? null, expected: LAYOUT_VERSION },
  )
}
