/**
 * Many small byte arrays packed into one buffer plus an offsets table, so a batch crosses the thread
 * boundary as two transferable ArrayBuffers instead of thousands of structured-cloned objects.
 */
export interface Packed {
  data: ArrayBuffer
  /** n + 1 offsets into data (Uint32, as its ArrayBuffer so it can be transferred). */
  offsets: ArrayBuffer
}

/** Pack items[start, end) into a fresh buffer. */
export function pack(items: readonly Uint8Array[], start = 0, end = items.length): Packed {
  const n = end - start
  const offsets = new Uint32Array(n + 1)
  let total = 0
  for (let i = 0; i < n; i++) {
    offsets[i] = total
    total += items[start + i].byteLength
  }
  offsets[n] = total
  const data = new Uint8Array(total)
  for (let i = 0; i < n; i++) data.set(items[start + i], offsets[i])
  return { data: data.buffer, offsets: offsets.buffer }
}

/** Zero-copy views of the packed items. */
export function unpack(p: Packed): Uint8Array[] {
  const offsets = new Uint32Array(p.offsets)
  const n = offsets.length - 1
  const out: Uint8Array[] = new Array(n)
  for (let i = 0; i < n; i++) out[i] = new Uint8Array(p.data, offsets[i], offsets[i + 1] - offsets[i])
  return out
}
