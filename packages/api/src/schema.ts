import {
  type Block,
  type BlockHeader,
  codedError,
  blockHash,
  equalBytes,
  toBase64,
  toHex,
  txIdHex,
} from '@profichain/core'
import type { TxLocation } from '@profichain/store'
import { GraphQLScalarType, Kind } from 'graphql'
import { createSchema } from 'graphql-yoga'
import type { WorkBudget } from './budget.js'
import { decodeCursor, encodeCursor } from './cursor.js'
import { badInput, gqlError, hexArg, notFound } from './errors.js'
import { eventIterator } from './events.js'
import { scanTransactions, TX_RESULT_BYTES, type TxFilterInput } from './scan.js'
import { deviceResolvers, deviceTypeDefs } from './schema-devices.js'
import { anchorResolvers, anchorTypeDefs } from './schema-anchors.js'
import { typeDefs } from './schema-sdl.js'
import type { ApiChain, ApiComponents } from './types.js'

export interface ApiContextValue {
  chain: ApiChain
  components: ApiComponents
  opts: ResolvedOptions
  /** Aborted when the server stops: ends subscriptions. */
  shutdown: AbortSignal
  /** This request's run-time work/result/time budget. */
  budget: WorkBudget
  /** The server requires a bearer token (so this request carried a valid one): mutations are allowed. */
  writable: boolean
}

export interface ResolvedOptions {
  payloadCapBytes: number
  maxPage: number
  maxScanBlocks: number
  maxScanTxs: number
}

/** A block as resolvers see it: the header always, the txs loaded on first need. */
export class BlockView {
  private loaded?: Promise<Block>
  constructor(
    readonly hash: Uint8Array,
    readonly header: BlockHeader,
    private readonly chain: ApiChain,
    block?: Block,
  ) {
    if (block) this.loaded = Promise.resolve(block)
  }

  /** The full block; its first load is charged to the budget by the block's tx count (decoding them). */
  block(budget: WorkBudget): Promise<Block> {
    if (!this.loaded) budget.charge(1 + this.header.txCount)
    this.loaded ??= this.chain.getBlock(this.hash).then((b) => {
      if (!b) throw notFound('block', toHex(this.hash))
      return b
    })
    return this.loaded
  }
}

/** Result bytes charged per txId (64 hex characters, quotes and a comma). */
const TXID_RESULT_BYTES = 67
/** Approximate JSON bytes of one `evidence` entry (a key, two hashes, two numbers). */
const EVIDENCE_RESULT_BYTES = 256
/** Result bytes charged per receipt (its proof path grows with log2 of the block's tx count). */
const RECEIPT_RESULT_BYTES = 4096

function pageSize(first: number | null | undefined, max: number): number {
  const n = first ?? 20
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw badInput(`first must be an integer in 0..${max}`, { argument: 'first' })
  return n
}

function heightArg(v: number, argument: string): number {
  if (!Number.isInteger(v) || v < 0)
    throw badInput(`${argument} must be a non-negative integer`, { argument })
  return v
}

async function blockAtHeight(chain: ApiChain, height: number): Promise<BlockView | undefined> {
  const hash = await chain.getHashAtHeight(height)
  if (!hash) return undefined
  const header = await chain.getHeader(hash)
  return header ? new BlockView(hash, header, chain) : undefined
}

const Long = new GraphQLScalarType<number, number>({
  name: 'Long',
  serialize: (v) => {
    if (typeof v === 'bigint') return Number(v)
    if (typeof v !== 'number' || !Number.isSafeInteger(v))
      throw codedError(new TypeError(`not a safe integer: ${String(v)}`), 'ERR_API_NOT_SAFE_INTEGER')
    return v
  },
  parseValue: (v) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw badInput('expected an integer up to 2^53-1')
    return v
  },
  parseLiteral: (ast) => {
    const n = ast.kind === Kind.INT ? Number(ast.value) : Number.NaN
    if (!Number.isSafeInteger(n)) throw badInput('expected an integer up to 2^53-1')
    return n
  },
})

const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: () => {
    throw badInput('JSON is an output type')
  },
})

const iso = (ms: number) => new Date(ms).toISOString()

function locationFromBlock(view: BlockView, block: Block, index: number): TxLocation {
  const tx = block.txs[index]
  return { tx, txId: txIdHex(tx), blockHash: view.hash, height: view.header.height, index }
}

async function txById(chain: ApiChain, id: string): Promise<TxLocation> {
  hexArg(id, 32, 'id')
  const loc = await chain.getTx(id.toLowerCase())
  if (!loc) throw notFound('transaction', id)
  return loc
}

/** Build the executable schema over the given components. */
export function buildSchema() {
  return createSchema<ApiContextValue>({
    typeDefs: [typeDefs, deviceTypeDefs, anchorTypeDefs],
    resolvers: {
      Long,
      JSON: JSONScalar,
      Mutation: deviceResolvers.Mutation,
      Query: {
        ...deviceResolvers.Query,
        ...anchorResolvers.Query,
        status: async (_: unknown, __: unknown, { chain, components }: ApiContextValue) => {
          const s = components.status()
          const head = chain.head()
          return {
            ...s,
            peerId: s.peerId ?? null,
            height: head.height,
            headHash: toHex(head.hash),
            finalHeight: chain.finalHeight(),
            mempoolSize: chain.mempool.size(),
            outboxSize: await chain.outbox.size(),
            syncState: s.syncing ? 'syncing' : 'synced',
            health: s.health ?? 'ready',
            problems: (s.problems ?? []).map((p) => ({ ...p, since: p.since ?? null })),
          }
        },
        block: async (
          _: unknown,
          args: { height?: number | null; hash?: string | null },
          { chain, budget }: ApiContextValue,
        ) => {
          budget.charge(1)
          const hasH = args.height !== undefined && args.height !== null
          const hasHash = args.hash !== undefined && args.hash !== null
          if (hasH === hasHash) throw badInput('give exactly one of height or hash')
          if (hasHash) {
            const hash = hexArg(args.hash as string, 32, 'hash')
            const header = await chain.getHeader(hash)
            if (!header) throw notFound('block', args.hash as string)
            return new BlockView(hash, header, chain)
          }
          const h = heightArg(args.height as number, 'height')
          const view = await blockAtHeight(chain, h)
          if (!view) throw notFound('block at height', h)
          return view
        },
        blocks: async (
          _: unknown,
          args: { from?: number | null; to?: number | null; first?: number | null; after?: string | null },
          { chain, opts, budget }: ApiContextValue,
        ) => {
          const first = pageSize(args.first, opts.maxPage)
          const head = chain.head().height
          const from = args.from == null ? 0 : heightArg(args.from, 'from')
          const to = Math.min(args.to == null ? head : heightArg(args.to, 'to'), head)
          let start = from
          if (args.after) start = Math.max(from, decodeCursor(args.after, 'b', 1)[0] + 1)
          const nodes: BlockView[] = []
          for (let h = start; h <= to && nodes.length < first; h++) {
            budget.charge(1)
            const v = await blockAtHeight(chain, h)
            // The head moved down (reorg) while we paged: stop at what exists.
            if (!v) break
            nodes.push(v)
          }
          const last = nodes.length ? nodes[nodes.length - 1].header.height : start - 1
          return {
            edges: nodes.map((n) => ({ cursor: encodeCursor('b', n.header.height), node: n })),
            nodes,
            pageInfo: {
              hasNextPage: last < to,
              endCursor: nodes.length ? encodeCursor('b', last) : (args.after ?? null),
            },
          }
        },
        transaction: (_: unknown, args: { id: string }, { chain, budget }: ApiContextValue) => {
          budget.charge(1, TX_RESULT_BYTES)
          return txById(chain, args.id)
        },
        transactions: (
          _: unknown,
          args: { filter?: TxFilterInput | null; first?: number | null; after?: string | null },
          ctx: ApiContextValue,
        ) => {
          const first = pageSize(args.first, ctx.opts.maxPage)
          return scanTransactions(
            ctx.chain,
            args.filter ?? {},
            first,
            args.after ?? undefined,
            ctx.opts,
            ctx.budget,
          )
        },
        receipt: async (
          _: unknown,
          args: { txId: string; format?: 'CHAINPOINT' | 'NATIVE' | null },
          { chain, components, budget }: ApiContextValue,
        ) => {
          hexArg(args.txId, 32, 'txId')
          const id = args.txId.toLowerCase()
          budget.charge(1)
          // Check first so an unknown id is NOT_FOUND whatever the store's receipt() does with it.
          const loc = await chain.getTx(id)
          if (!loc) throw notFound('transaction', args.txId)
          // A receipt rebuilds its block's Merkle tree: work in the block's tx count.
          const header = await chain.getHeader(loc.blockHash)
          budget.charge(header?.txCount ?? 1, RECEIPT_RESULT_BYTES)
          const base = components.anchorBase()
          const form = args.format === 'NATIVE' ? 'native' : 'chainpoint'
          const r =
            (await components.crossReceipt?.(id, form)) ??
            (form === 'native' ? await chain.receipt(id, 'native', base) : await chain.receipt(id, 'chainpoint', base))
          if (!r) throw notFound('transaction', args.txId)
          return r
        },
        peers: (_: unknown, __: unknown, { components }: ApiContextValue) => components.peers(),
        evidence: async (_: unknown, args: { first?: number | null }, { components, budget, opts }: ApiContextValue) => {
          const first = pageSize(args.first, opts.maxPage)
          const all = components.evidence ? await components.evidence() : []
          const out = [...all]
            .sort((a, b) => (b.at ?? 0) - (a.at ?? 0) || b.height - a.height)
            .slice(0, first)
            .map((e) => ({ ...e, at: e.at ?? null }))
          budget.charge(out.length, out.length * EVIDENCE_RESULT_BYTES)
          return out
        },
        checkpoint: async (_: unknown, __: unknown, { components, budget }: ApiContextValue) => {
          const c = components.checkpoints ? await components.checkpoints.latest() : undefined
          if (c) budget.charge(1, c.note.length * 2)
          return c ?? null
        },
        partners: async (_: unknown, __: unknown, { components, budget }: ApiContextValue) => {
          const out = components.checkpoints ? await components.checkpoints.partners() : []
          budget.charge(out.length, out.length * 4096)
          return out
        },
        witnessEvidence: async (
          _: unknown,
          args: { origin?: string | null; first?: number | null },
          { components, budget, opts }: ApiContextValue,
        ) => {
          const first = pageSize(args.first, opts.maxPage)
          const out = components.checkpoints ? await components.checkpoints.witnessEvidence(args.origin ?? undefined, first) : []
          budget.charge(out.length, out.reduce((n, e) => n + e.previous.length + e.offered.length + 128, 0))
          return out
        },
      },
      Subscription: {
        newBlocks: {
          subscribe: (_: unknown, __: unknown, { components, shutdown }: ApiContextValue) =>
            eventIterator<Block>(components.events, 'block', { maxQueue: 1000, signal: shutdown }),
          resolve: (b: Block, _: unknown, { chain, budget }: ApiContextValue) => {
            // Each event is its own unit of work: a stream is not aborted for living long.
            budget.reset()
            return new BlockView(blockHash(b.header), b.header, chain, b)
          },
        },
        committedTxs: {
          subscribe: (_: unknown, __: unknown, { components, shutdown }: ApiContextValue) =>
            eventIterator<{ txIds: string[] }>(components.events, 'committed', {
              maxQueue: 1000,
              signal: shutdown,
            }),
          resolve: (e: { txIds: string[] }, _: unknown, { budget }: ApiContextValue) => {
            budget.reset()
            return e
          },
        },
      },
      CommittedTxs: {
        transactions: async (e: { txIds: string[] }, _: unknown, { chain, budget }: ApiContextValue) => {
          budget.charge(e.txIds.length, e.txIds.length * TX_RESULT_BYTES)
          const locs = await chain.getTxs(e.txIds)
          return locs.filter((l): l is TxLocation => l !== undefined)
        },
      },
      Block: {
        hash: (v: BlockView) => toHex(v.hash),
        height: (v: BlockView) => v.header.height,
        network: (v: BlockView) => v.header.network,
        version: (v: BlockView) => v.header.version,
        timestamp: (v: BlockView) => v.header.timestamp,
        time: (v: BlockView) => iso(v.header.timestamp),
        prevHash: (v: BlockView) => toHex(v.header.prevHash),
        merkleRoot: (v: BlockView) => toHex(v.header.merkleRoot),
        txCount: (v: BlockView) => v.header.txCount,
        difficulty: (v: BlockView) => v.header.difficulty,
        nonce: (v: BlockView) => v.header.nonce,
        producer: (v: BlockView) => toHex(v.header.producer),
        signatures: (v: BlockView) =>
          v.header.signatures.map((s) => ({ signer: toHex(s.signer), signature: toHex(s.signature) })),
        canonical: async (v: BlockView, _: unknown, { chain }: ApiContextValue) => {
          const at = await chain.getHashAtHeight(v.header.height)
          return at !== undefined && equalBytes(at, v.hash)
        },
        confirmations: async (v: BlockView, _: unknown, { chain }: ApiContextValue) => {
          const at = await chain.getHashAtHeight(v.header.height)
          if (!at || !equalBytes(at, v.hash)) return 0
          return chain.head().height - v.header.height + 1
        },
        final: async (v: BlockView, _: unknown, { chain }: ApiContextValue) => {
          if (v.header.height > chain.finalHeight()) return false
          const at = await chain.getHashAtHeight(v.header.height)
          return at !== undefined && equalBytes(at, v.hash)
        },
        txIds: async (v: BlockView, _: unknown, { budget }: ApiContextValue) => {
          // Charged by the real list length before any hashing: one id per tx of the block.
          budget.charge(v.header.txCount, v.header.txCount * TXID_RESULT_BYTES)
          return (await v.block(budget)).txs.map((t) => txIdHex(t))
        },
        transactions: async (
          v: BlockView,
          args: { first?: number | null; after?: string | null },
          { opts, budget }: ApiContextValue,
        ) => {
          const first = pageSize(args.first, opts.maxPage)
          const block = await v.block(budget)
          const start = args.after ? decodeCursor(args.after, 'i', 1)[0] + 1 : 0
          const end = Math.min(block.txs.length, start + first)
          const nodes: TxLocation[] = []
          budget.charge(Math.max(0, end - start), Math.max(0, end - start) * TX_RESULT_BYTES)
          for (let i = start; i < end; i++) nodes.push(locationFromBlock(v, block, i))
          return {
            edges: nodes.map((n) => ({ cursor: encodeCursor('i', n.index), node: n })),
            nodes,
            pageInfo: {
              hasNextPage: end < block.txs.length,
              endCursor: nodes.length ? encodeCursor('i', end - 1) : (args.after ?? null),
            },
            scannedBlocks: 1,
          }
        },
      },
      Transaction: {
        id: (l: TxLocation) => l.txId,
        version: (l: TxLocation) => l.tx.body.version,
        network: (l: TxLocation) => l.tx.body.network,
        kind: (l: TxLocation) => l.tx.body.kind.replace('-', '_'),
        origin: (l: TxLocation) => toHex(l.tx.body.origin),
        seq: (l: TxLocation) => l.tx.body.seq,
        timestamp: (l: TxLocation) => l.tx.body.timestamp,
        time: (l: TxLocation) => iso(l.tx.body.timestamp),
        payloadHash: (l: TxLocation) => toHex(l.tx.body.payloadHash),
        payloadSize: (l: TxLocation) => l.tx.body.payloadSize,
        metadata: (l: TxLocation, _: unknown, { budget }: ApiContextValue) => {
          // In the signed body's order (deterministic CBOR: keys by encoded length, then bytewise), whether
          // the tx was decoded from the store or is the object the node built (its latest blocks in memory).
          const entries = Object.entries(l.tx.body.metadata).sort(([a], [b]) => canonicalKeyOrder(a, b))
          budget.charge(0, entries.reduce((n, [k, v]) => n + k.length + v.length + 32, 0))
          return entries.map(([key, value]) => ({ key, value }))
        },
        meta: (l: TxLocation, args: { key: string }) =>
          Object.hasOwn(l.tx.body.metadata, args.key) ? l.tx.body.metadata[args.key] : null,
        signature: (l: TxLocation) => toHex(l.tx.signature),
        block: async (l: TxLocation, _: unknown, { chain, budget }: ApiContextValue) => {
          budget.charge(1)
          const header = await chain.getHeader(l.blockHash)
          if (!header) throw notFound('block', toHex(l.blockHash))
          return new BlockView(l.blockHash, header, chain)
        },
        blockHash: (l: TxLocation) => toHex(l.blockHash),
        height: (l: TxLocation) => l.height,
        index: (l: TxLocation) => l.index,
        confirmations: (l: TxLocation, _: unknown, { chain }: ApiContextValue) =>
          Math.max(0, chain.head().height - l.height + 1),
        payloadHeld: (l: TxLocation, _: unknown, { chain }: ApiContextValue) => chain.hasPayload(l.txId),
        payload: async (l: TxLocation, _: unknown, { chain, opts, budget }: ApiContextValue) => {
          const url = `/tx/${l.txId}/payload`
          if (l.tx.body.payloadSize > opts.payloadCapBytes) {
            throw gqlError(
              'PAYLOAD_TOO_LARGE',
              `payload is ${l.tx.body.payloadSize} bytes, above the ${opts.payloadCapBytes}-byte inline cap: GET ${url}`,
              { payloadUrl: url },
            )
          }
          budget.charge(1, Math.ceil(l.tx.body.payloadSize / 3) * 4)
          const p = await chain.getPayload(l.txId)
          return p ? toBase64(p) : null
        },
        payloadUrl: (l: TxLocation) => `/tx/${l.txId}/payload`,
      },
    },
  })
}

/** RFC 8949 §4.2.1 order of two text map keys: by the length of their UTF-8 encoding, then bytewise. */
function canonicalKeyOrder(a: string, b: string): number {
  const x = Buffer.from(a, 'utf8')
  const y = Buffer.from(b, 'utf8')
  return x.byteLength - y.byteLength || Buffer.compare(x, y)
}
