// The few Buffer methods @profichain/core uses (hex/base64 codecs, concat, compare, equals, byteLength),
// on Uint8Array, so core runs in the browser without a Buffer polyfill package. esbuild injects it.
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const enc = new TextEncoder()

class ShimBuffer extends Uint8Array {
  static from(v, a, b) {
    if (typeof v === 'string') {
      if (a === 'hex') {
        const n = Math.floor(v.length / 2)
        const o = new ShimBuffer(n)
        for (let i = 0; i < n; i++) {
          const pair = v.slice(2 * i, 2 * i + 2)
          if (!/^[0-9a-fA-F]{2}$/.test(pair)) return o.subarray(0, i)
          o[i] = parseInt(pair, 16)
        }
        return o
      }
      if (a === 'base64' || a === 'base64url') {
        const s = v.replace(/-/g, '+').replace(/_/g, '/').replace(/[^A-Za-z0-9+/]/g, '')
        const bin = globalThis.atob(s + '='.repeat((4 - (s.length % 4)) % 4))
        const o = new ShimBuffer(bin.length)
        for (let i = 0; i < bin.length; i++) o[i] = bin.charCodeAt(i)
        return o
      }
      const u = enc.encode(v)
      return new ShimBuffer(u.buffer, u.byteOffset, u.byteLength)
    }
    if (v instanceof ArrayBuffer) return new ShimBuffer(v, a ?? 0, b ?? v.byteLength - (a ?? 0))
    const o = new ShimBuffer(v.length)
    o.set(v)
    return o
  }
  static concat(parts) {
    let n = 0
    for (const p of parts) n += p.length
    const o = new ShimBuffer(n)
    let off = 0
    for (const p of parts) {
      o.set(p, off)
      off += p.length
    }
    return o
  }
  static compare(a, b) {
    const n = Math.min(a.length, b.length)
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1
    return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
  }
  static byteLength(s) {
    return typeof s === 'string' ? enc.encode(s).length : s.byteLength
  }
  static isBuffer(v) {
    return v instanceof ShimBuffer
  }
  equals(o) {
    return ShimBuffer.compare(this, o) === 0
  }
  toString(e) {
    if (e === 'hex') {
      let s = ''
      for (let i = 0; i < this.length; i++) s += HEX[this[i]]
      return s
    }
    if (e === 'base64' || e === 'base64url') {
      let bin = ''
      for (let i = 0; i < this.length; i++) bin += String.fromCharCode(this[i])
      const s = globalThis.btoa(bin)
      return e === 'base64' ? s : s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
    }
    return new TextDecoder().decode(this)
  }
}

export { ShimBuffer as Buffer }
