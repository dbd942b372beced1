import { type BinaryDb, LAYOUT_VERSION, META, readU64, type Subs } from './keys.js'
import { StoreError } from './types.js'

/**
 * Check the DB's layout version before anything else reads it: another version is refused
 * (ERR_STORE_LAYOUT); a DB without one (but already initialised) is layout 1, refused as well. An empty DB
 * gets the version with its genesis.
 */
export async function checkLayout(_db: BinaryDb, subs: Subs, path: string): Promise<void> {
  const [stored, genesis] = await subs.meta.getMany([META.layout, META.genesis])
  if (stored === undefined && genesis === undefined) return
  // A DB without a version predates it: layout 1.
  const version = stored === undefined ? 1 : stored.byteLength === 8 ? readU64(stored) : undefined
  if (version === LAYOUT_VERSION) return
  const found = version === undefined ? `an unreadable layout version (${stored?.byteLength} bytes)` : `layout version ${version}`
  const older =
    version !== undefined && version < LAYOUT_VERSION
      ? ' Layout 2 changed the network identity (the genesis hash commits to the whole genesis) and added the block log: ' +
        'a chain written before cannot be upgraded in place; create a new network (`profichain init`) with a fresh data dir, ' +
        'or keep running the old version for the old chain.'
      : ''
  throw new StoreError(
    'ERR_STORE_LAYOUT',
    `the data dir ${path} has ${found}, this version of profichain reads layout ${LAYOUT_VERSION} only ` +
      '(docs/storage.md): use the profichain version that wrote it, or start with a fresh data dir.' + older,
    { path, found: version ?? null, expected: LAYOUT_VERSION },
  )
}
