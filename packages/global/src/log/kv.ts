// The global network's LevelDB buckets, as the store hands them out (`BlockTree.globalBuckets`, store keys.ts
// `GlobalBucket`). Declared here structurally so this package does not depend on the store.

export type LogBucket = 'logNode' | 'logMeta' | 'witnessState' | 'witnessEvidence'

export interface LogKv {
  get(bucket: LogBucket, key: Uint8Array): Promise<Uint8Array | undefined>
  getMany(bucket: LogBucket, keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>>
  entries(
    bucket: LogBucket,
    range?: { gte?: Uint8Array; lt?: Uint8Array; reverse?: boolean },
    limit?: number,
  ): Promise<Array<[Uint8Array, Uint8Array]>>
  /** One atomic, synced batch; an op without value deletes its key. */
  write(ops: Array<{ bucket: LogBucket; key: Uint8Array; value?: Uint8Array }>): Promise<void>
}

export function u64(n: number): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n))
  return b
}

export function readU64(b: Uint8Array): number {
  return Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0))
}

export function utf8(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'utf8'))
}

export function fromUtf8(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')
}

/** A one-at-a-time queue (read-check-write sections against the same keys). */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve()
  run<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.tail.then(fn, fn)
    this.tail = r.catch(() => undefined)
    return r
  }
}
