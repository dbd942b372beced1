// Internal helpers shared by the note, checkpoint and witness codecs (not exported from the package).

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Strict RFC 4648 §4 base64 (padding required, no whitespace, canonical trailing bits); undefined if not. */
export function decodeBase64Strict(s: string): Uint8Array | undefined {
  if (!B64_RE.test(s)) return undefined
  const bytes = Buffer.from(s, 'base64')
  if (bytes.toString('base64') !== s) return undefined
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

const DECIMAL_RE = /^(?:0|[1-9][0-9]*)$/

/** ASCII decimal without leading zeros, as a safe integer; undefined otherwise. */
export function parseDecimal(s: string): number | undefined {
  if (s.length > 16 || !DECIMAL_RE.test(s)) return undefined
  const n = Number(s)
  return Number.isSafeInteger(n) ? n : undefined
}

// eslint-disable-next-line no-control-regex
const CONTROL_EXCEPT_NL_RE = /[\u0000-\u0009\u000b-\u001f]/
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Valid UTF-8 once encoded (no lone surrogates) and no ASCII control characters other than newline. */
export function isNoteSafe(s: string): boolean {
  return !CONTROL_EXCEPT_NL_RE.test(s) && !LONE_SURROGATE_RE.test(s)
}

// Go's unicode.IsSpace (what golang.org/x/mod/sumdb/note rejects in key names), plus '+'.
const NAME_FORBIDDEN_RE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000+]/

/** A note key name: non-empty, no Unicode space, no '+', no control character, valid UTF-8. */
export function isValidKeyName(name: string): boolean {
  return typeof name === 'string' && name.length > 0 && !NAME_FORBIDDEN_RE.test(name) && isNoteSafe(name)
}

export function short(s: string, max = 60): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s)
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Strict UTF-8 decoding of bytes received from the network (a BOM is kept as text); undefined if invalid. */
export function decodeUtf8Strict(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes)
  } catch {
    return undefined
  }
}
