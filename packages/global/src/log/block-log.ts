// The network's block log (DESIGN §11): an RFC 6962 tree whose leaf i is leafHash(canonical block hash at
// height i), only final blocks, persisted as complete subtree hashes so any proof is O(log n) reads.
import { consistencyProof, inclusionProof, leafHash, nodeHash, rootOf } from '../tlog/index.js'
import { LogError } from './errors.js'
import { type LogKv, readU64, u64, utf8 } from './kv.js'

/** What the block log reads from the chain. */
export interface BlockLogChain {
  /** Height of the canonical head. */
  headHeight(): number
  /** Height of the latest final block (quorum); undefined when the consensus has no finality votes. */
  finalHeight?: () => number
  /** Canonical block hash at a height. */
  hashAtHeight(height: number): Promise<Uint8Array | undefined>
  /**
   * Raise the store's checkpoint floor to `height` (blocks up to it are never reorganised away). Called
   * BEFORE the leaves up to `height` are read, so they cannot change afterwards.
   */
  setFloor(height: number): Promise<void>
}

export interface BlockLogInit {
  /** authority / work: blocks this deep enter the log (genesis `checkpoint.depth`). Ignored when the chain has finalHeight. */
  depth: number
  /** Leaves appended per synced write. Default 1024. */
  batch?: number
}

export interface BlockLogComponents {
  kv: LogKv
  chain: BlockLogChain
}

export interface BlockLog {
  /** Number of leaves (final blocks from genesis) in the log. */
  size(): number
  /** Append every block that became final since the last call; returns the new size. */
  sync(): Promise<number>
  /** Root of the log at `size` (default: current size); SHA-256("") for 0. */
  root(size?: number): Promise<Uint8Array>
  /** Hash of leaves [start, end) (RFC 6962 MTH), end ≤ size. */
  subtree(start: number, end: number): Promise<Uint8Array>
  /** Leaf hash at an index (= leafHash(block hash at that height)). */
  leaf(index: number): Promise<Uint8Array>
  /** RFC 9162 inclusion proof of leaf `index` (block height) in the log of `size` leaves. */
  inclusionProof(index: number, size: number): Promise<Uint8Array[]>
  /** RFC 9162 consistency proof between two sizes (0 < oldSize ≤ newSize ≤ size()). */
  consistencyProof(oldSize: number, newSize: number): Promise<Uint8Array[]>
}

const SIZE_KEY = utf8('size')

/** Key of a complete subtree: u8 level ‖ u64 index (leaves [index·2^level, (index+1)·2^level)). */
export function logNodeKey(level: number, index: number): Uint8Array {
  const k = new Uint8Array(9)
  k[0] = level
  k.set(u64(index), 1)
  return k
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0 // n < 2^31 here (heights)
const largestPow2Below = (n: number) => {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

class LevelBlockLog implements BlockLog {
  private n = 0
  /** Right border: for each level, the hash of the last complete node at that level whose sibling is pending. */
  private readonly border = new Map<number, Uint8Array>()
  private syncing?: Promise<number>

  constructor(
    private readonly init: BlockLogInit,
    private readonly c: BlockLogComponents,
  ) {}

  async load(): Promise<void> {
    const s = await this.c.kv.get('logMeta', SIZE_KEY)
    this.n = s === undefined ? 0 : readU64(s)
    // The border of size n: at each set bit l, node (l, (n >> l) - 1) when it is a left child.
    for (let l = 0; 2 ** l <= this.n; l++) {
      const idx = Math.floor(this.n / 2 ** l) - 1
      if (idx % 2 === 0) {
        const h = await this.c.kv.get('logNode', logNodeKey(l, idx))
        if (h === undefined)
          throw new LogError('ERR_LOG_CORRUPT', `block log node (${l}, ${idx}) is missing: run \`profichain audit\``)
        this.border.set(l, h)
      }
    }
  }

  size(): number {
    return this.n
  }

  sync(): Promise<number> {
    this.syncing ??= this.doSync().finally(() => {
      this.syncing = undefined
    })
    return this.syncing
  }

  private target(): number {
    const { chain } = this.c
    const h = chain.finalHeight ? chain.finalHeight() : chain.headHeight() - this.init.depth
    return Math.min(h, chain.headHeight())
  }

  private async doSync(): Promise<number> {
    const top = this.target()
    if (top < this.n) return this.n
    await this.c.chain.setFloor(top)
    const batch = this.init.batch ?? 1024
    while (this.n <= top) {
      const end = Math.min(top + 1, this.n + batch)
      const ops: Array<{ bucket: 'logNode' | 'logMeta'; key: Uint8Array; value: Uint8Array }> = []
      const border = new Map(this.border)
      for (let i = this.n; i < end; i++) {
        const hash = await this.c.chain.hashAtHeight(i)
        if (hash === undefined)
          throw new LogError('ERR_LOG_CORRUPT', `no canonical block at height ${i} below the head`, { height: i })
        let h = leafHash(hash)
        let level = 0
        let idx = i
        ops.push({ bucket: 'logNode', key: logNodeKey(0, idx), value: h })
        while (idx % 2 === 1) {
          const left = border.get(level) as Uint8Array
          border.delete(level)
          h = nodeHash(left, h)
          level++
          idx = (idx - 1) / 2
          ops.push({ bucket: 'logNode', key: logNodeKey(level, idx), value: h })
        }
        border.set(level, h)
      }
      ops.push({ bucket: 'logMeta', key: SIZE_KEY, value: u64(end) })
      await this.c.kv.write(ops)
      this.border.clear()
      for (const [l, h] of border) this.border.set(l, h)
      this.n = end
    }
    return this.n
  }

  async subtree(start: number, end: number): Promise<Uint8Array> {
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start < end && end <= this.n))
      throw new LogError('ERR_LOG_RANGE', `leaves [${start}, ${end}) are not in the block log of size ${this.n}`, {
        start,
        end,
        size: this.n,
      })
    const len = end - start
    if (isPow2(len) && start % len === 0) {
      const level = Math.log2(len)
      const h = await this.c.kv.get('logNode', logNodeKey(level, start / len))
      if (h === undefined)
        throw new LogError('ERR_LOG_CORRUPT', `block log node (${level}, ${start / len}) is missing: run \`profichain audit\``)
      return h
    }
    const k = largestPow2Below(len)
    return nodeHash(await this.subtree(start, start + k), await this.subtree(start + k, end))
  }

  async root(size = this.n): Promise<Uint8Array> {
    if (size === 0) return rootOf([])
    return this.subtree(0, size)
  }

  leaf(index: number): Promise<Uint8Array> {
    return this.subtree(index, index + 1)
  }

  private checkSize(size: number, what: string): void {
    if (!Number.isSafeInteger(size) || size < 1 || size > this.n)
      throw new LogError('ERR_LOG_RANGE', `${what} ${size} is not a size of the block log (1..${this.n})`, {
        size,
        logSize: this.n,
      })
  }

  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    this.checkSize(size, 'size')
    if (!Number.isSafeInteger(index) || index < 0 || index >= size)
      throw new LogError('ERR_LOG_RANGE', `height ${index} is not in the block log of size ${size}`, { index, size })
    return inclusionProof(index, size, (a, b) => this.subtree(a, b))
  }

  async consistencyProof(oldSize: number, newSize: number): Promise<Uint8Array[]> {
    this.checkSize(newSize, 'new size')
    this.checkSize(oldSize, 'old size')
    if (oldSize > newSize)
      throw new LogError('ERR_LOG_RANGE', `old size ${oldSize} is greater than new size ${newSize}`, { oldSize, newSize })
    return consistencyProof(oldSize, newSize, (a, b) => this.subtree(a, b))
  }
}

/** Open the block log stored in `kv` (its state is loaded before this resolves). */
export async function createBlockLog(init: BlockLogInit, components: BlockLogComponents): Promise<BlockLog> {
  const log = new LevelBlockLog(init, components)
  await log.load()
  return log
}
