import { encodeBlock, encodeHeader } from '@profichain/core'
import type { SyncHandlers } from '@profichain/network'
import type { SyncStore } from './sync-client.js'

/** The server side: answers peers' sync requests from the canonical chain. */
export function createSyncHandlers(init: { genesisHash: Uint8Array }, components: { store: SyncStore }): SyncHandlers {
  const { store } = components
  /** Encoded items of the canonical chain from height `from`, at most `count`, stopping at the head. */
  const range = async (from: number, count: number, get: (h: number) => Promise<Uint8Array | undefined>) => {
    const out: Uint8Array[] = []
    for (let h = from; h < from + count && h <= store.head().height; h++) {
      const v = await get(h)
      if (!v) break
      out.push(v)
    }
    return out
  }
  return {
    headers: (from, count) =>
      range(from, count, async (h) => {
        const header = await store.getHeaderByHeight(h)
        return header && encodeHeader(header)
      }),
    block: async (hash) => {
      const b = await store.getBlock(hash)
      return b ? encodeBlock(b) : null
    },
    blocks: (from, count) =>
      range(from, count, async (h) => {
        const b = await store.getBlockByHeight(h)
        return b && encodeBlock(b)
      }),
    payloads: async (ids) => Promise.all(ids.map(async (id) => (await store.getPayload(id)) ?? null)),
    status: () => {
      const head = store.head()
      return { height: head.height, headHash: head.hash, genesisHash: init.genesisHash }
    },
  }
}
