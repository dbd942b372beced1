import { equalBytes, type StrippedTx, txIdHex } from '@profichain/core'
import type { TxLocation } from '@profichain/store'
import type { WorkBudget } from './budget.js'
import { decodeCursor, encodeCursor } from './cursor.js'
import { badInput, hexArg } from './errors.js'
import type { ApiChain } from './types.js'

export interface TxFilterInput {
  origin?: string | null
  kind?: string | null
  payloadHash?: string | null
  metadata?: Array<{ key: string; value?: string | null }> | null
  since?: number | null
  until?: number | null
}

export interface ScanBounds {
  maxScanBlocks: number
  maxScanTxs: number
}

interface Page {
  edges: Array<{ cursor: string; node: TxLocation }>
  nodes: TxLocation[]
  pageInfo: { hasNextPage: boolean; endCursor: string | null }
  scannedBlocks: number
}

type Match = (tx: StrippedTx) => boolean

/** Result bytes charged per transaction returned (its fixed-size fields; metadata and payload are charged apart). */
export const TX_RESULT_BYTES = 512

function matcher(f: TxFilterInput): Match {
  const origin = f.origin != null ? hexArg(f.origin, 32, 'filter.origin') : undefined
  const meta = f.metadata ?? []
  if (meta.length > 16) throw badInput('at most 16 metadata filters', { argument: 'filter.metadata' })
  if (f.since != null && f.until != null && f.since > f.until)
    throw badInput('filter.since is after filter.until', { argument: 'filter.since' })
  return (tx) => {
    const b = tx.body
    if (origin && !equalBytes(b.origin, origin)) return false
    if (f.kind != null && b.kind !== f.kind.replace('_', '-')) return false
    if (f.since != null && b.timestamp < f.since) return false
    if (f.until != null && b.timestamp > f.until) return false
    for (const m of meta) {
      if (!Object.hasOwn(b.metadata, m.key)) return false
      if (m.value != null && b.metadata[m.key] !== m.value) return false
    }
    return true
  }
}

/** Position (height, index) strictly before which the next page starts; newest first. */
const cursorOf = (height: number, index: number) => encodeCursor('t', height, index)

function page(
  nodes: TxLocation[],
  hasNextPage: boolean,
  endCursor: string | null,
  scannedBlocks: number,
): Page {
  return {
    edges: nodes.map((n) => ({ cursor: cursorOf(n.height, n.index), node: n })),
    nodes,
    pageInfo: { hasNextPage, endCursor },
    scannedBlocks,
  }
}

/**
 * `transactions(filter)`: newest first. A payloadHash filter is an index lookup; anything else scans
 * canonical blocks from the head (or the cursor) down, at most `maxScanBlocks` blocks / `maxScanTxs` txs
 * per page, so a page can hold fewer than `first` items and still say hasNextPage (continue from endCursor).
 */
export async function scanTransactions(
  chain: ApiChain,
  filter: TxFilterInput,
  first: number,
  after: string | undefined,
  bounds: ScanBounds,
  budget: WorkBudget,
): Promise<Page> {
  const match = matcher(filter)
  const pos = after ? decodeCursor(after, 't', 2) : undefined
  const before = (l: { height: number; index: number }) =>
    !pos || l.height < pos[0] || (l.height === pos[0] && l.index < pos[1])

  if (filter.payloadHash != null) {
    const hash = hexArg(filter.payloadHash, 32, 'filter.payloadHash')
    const ids = await chain.txIdsByPayloadHash(hash)
    // Every holder of that payload is loaded to sort them: the same file dropped many times is many rows.
    budget.charge(ids.length)
    const locs = (await chain.getTxs(ids)).filter(
      (l): l is TxLocation => l !== undefined && match(l.tx) && before(l),
    )
    locs.sort((a, b) => b.height - a.height || b.index - a.index)
    const nodes = locs.slice(0, first)
    budget.charge(0, nodes.length * TX_RESULT_BYTES)
    const last = nodes[nodes.length - 1]
    return page(nodes, locs.length > first, last ? cursorOf(last.height, last.index) : (after ?? null), 0)
  }

  const nodes: TxLocation[] = []
  let height = pos ? pos[0] : chain.head().height
  let scannedBlocks = 0
  let scannedTxs = 0
  if (first === 0) return page(nodes, true, after ?? null, 0)
  for (; height >= 0; height--) {
    if (scannedBlocks >= bounds.maxScanBlocks || scannedTxs >= bounds.maxScanTxs) {
      // Out of budget: everything above `height` is done.
      return page(nodes, true, cursorOf(height + 1, 0), scannedBlocks)
    }
    budget.charge(1)
    const hash = await chain.getHashAtHeight(height)
    if (!hash) continue
    // Charge the block's txs before loading them, so concurrent (aliased) scans cannot overshoot the budget.
    const header = await chain.getHeader(hash)
    if (!header) continue
    budget.charge(header.txCount)
    const block = await chain.getBlock(hash)
    if (!block) continue
    scannedBlocks++
    let i = pos && height === pos[0] ? Math.min(pos[1], block.txs.length) - 1 : block.txs.length - 1
    for (; i >= 0; i--) {
      const tx = block.txs[i]
      scannedTxs++
      if (!match(tx)) continue
      budget.charge(0, TX_RESULT_BYTES)
      nodes.push({ tx, txId: txIdHex(tx), blockHash: hash, height, index: i })
      if (nodes.length === first) return page(nodes, height > 0 || i > 0, cursorOf(height, i), scannedBlocks)
    }
  }
  return page(
    nodes,
    false,
    nodes.length ? cursorOf(nodes[nodes.length - 1].height, nodes[nodes.length - 1].index) : (after ?? null),
    scannedBlocks,
  )
}
