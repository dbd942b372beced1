import { readFile } from 'node:fs/promises'
import {
  type ChainpointProof,
  evaluateChainpoint,
  type NativeReceipt,
  NATIVE_RECEIPT_TYPE,
  ProofError,
  sha256,
  toHex,
  verifyNativeReceipt,
} from '@profichain/core'
import { loadGenesis, validatorKeys } from '@profichain/consensus'
import { lineFormatOf, readLineReceipts, splitLines } from '@profichain/ingest'
import { CliError, readJsonFile } from './util.js'

export interface VerifyOptions {
  receipt: string
  genesis?: string
  api?: string
  /** Line-mode receipts: which line (1-based) of the file to check; default all. */
  line?: number
}

export interface CheckLine {
  ok: boolean
  what: string
}

/** Fetch the canonical block hash at a height from a node's plain-hex anchor URI. */
async function canonicalHash(url: string): Promise<string> {
  let res: Response
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  } catch (err) {
    throw new CliError(`cannot reach ${url}: ${(err as Error).message}`)
  }
  if (!res.ok) throw new CliError(`${url} answered ${res.status}`)
  return (await res.text()).trim().toLowerCase()
}

function anchorUrl(api: string, uri: string): string {
  // Keep the path of the anchor URI but ask the node given with --api.
  const u = new URL(uri)
  return new URL(u.pathname, api.endsWith('/') ? api : `${api}/`).toString()
}

/** Check one payload against one receipt (Chainpoint or native). Returns the check list; never throws ProofError. */
export async function verifyOne(payload: Uint8Array, receipt: unknown, o: VerifyOptions): Promise<CheckLine[]> {
  const checks: CheckLine[] = []
  const r = receipt as Record<string, unknown>
  try {
    if (r?.type === NATIVE_RECEIPT_TYPE) {
      const validators = o.genesis ? validatorKeys(await loadGenesis(o.genesis)) : undefined
      const v = verifyNativeReceipt(r as unknown as NativeReceipt, { payload, validators })
      checks.push({ ok: true, what: `payload SHA-256 ${toHex(sha256(payload))} matches the signed record` })
      checks.push({ ok: true, what: `record signature by origin ${toHex(v.tx.body.origin).slice(0, 16)}… verifies; txId ${v.txId}` })
      checks.push({ ok: true, what: `Merkle inclusion proof leads to the root of block ${v.height} (${v.blockHash})` })
      checks.push({ ok: true, what: `producer signature by ${v.producer.slice(0, 16)}… verifies` })
      if (validators) checks.push({ ok: true, what: `producer is a validator of network "${v.network}" (genesis ${o.genesis})` })
      else checks.push({ ok: true, what: 'producer NOT checked against a validator set (pass --genesis to check it)' })
      if (o.api) {
        const canon = await canonicalHash(anchorUrl(o.api, (r as unknown as NativeReceipt).anchorUri))
        checks.push({ ok: canon === v.blockHash, what: `node ${o.api} has block ${v.height} = ${canon}${canon === v.blockHash ? '' : ` (receipt says ${v.blockHash})`}` })
      }
    } else if (r?.['@context'] !== undefined) {
      const proof = r as unknown as ChainpointProof
      const fileHash = toHex(sha256(payload))
      if (fileHash !== String(proof.hash).toLowerCase()) {
        checks.push({ ok: false, what: `payload SHA-256 ${fileHash} differs from the receipt's hash ${proof.hash}: the data was changed` })
        return checks
      }
      checks.push({ ok: true, what: `payload SHA-256 ${fileHash} matches the receipt` })
      const anchors = evaluateChainpoint(proof)
      for (const { anchor, expected } of anchors) {
        checks.push({ ok: true, what: `proof operations compute block hash ${expected} (anchor ${anchor.type} ${anchor.anchor_id})` })
        if (o.api) {
          const uri = anchor.uris?.[0]
          if (!uri) throw new CliError('anchor has no URI')
          const canon = await canonicalHash(anchorUrl(o.api, uri))
          checks.push({ ok: canon === expected, what: `node ${o.api} has block ${anchor.anchor_id} = ${canon}` })
        } else {
          checks.push({ ok: true, what: 'block hash NOT checked against a chain (pass --api URL, or use a native receipt with --genesis)' })
        }
      }
    } else {
      checks.push({ ok: false, what: 'receipt is neither a Chainpoint v5 proof nor a ProfichainReceipt' })
    }
  } catch (err) {
    if (err instanceof ProofError) checks.push({ ok: false, what: `${err.code}: ${err.message}` })
    else throw err
  }
  return checks
}

export async function verifyFile(file: string, o: VerifyOptions): Promise<{ ok: boolean; lines: string[] }> {
  let payload: Buffer
  try {
    payload = await readFile(file)
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  // Line-mode receipts are append-only JSON lines (`.chp.jsonl`, later entry wins); others one JSON document.
  const receipt = o.receipt.endsWith('.jsonl')
    ? await readLineReceipts(o.receipt).catch((err: NodeJS.ErrnoException) => {
        throw new CliError(`cannot read receipt ${o.receipt}: ${err.code ?? err.message}`)
      })
    : await readJsonFile(o.receipt, 'receipt')
  const out: string[] = []
  let ok = true
  const entries: Array<{ label: string; payload: Uint8Array; receipt: unknown }> = []
  if (Array.isArray(receipt)) {
    // Split exactly as ingest did (CSV quoted fields may span lines; a record's line is where it starts).
    const records = new Map(splitLines(payload, lineFormatOf(file)).records.map((r) => [r.line, r.payload]))
    for (const e of receipt as Array<{ line: number; receipt: unknown }>) {
      if (o.line !== undefined && e.line !== o.line) continue
      const bytes = records.get(e.line)
      if (bytes === undefined) {
        out.push(`✗ line ${e.line}: the file has no record starting at that line`)
        ok = false
        continue
      }
      entries.push({ label: `line ${e.line}: `, payload: bytes, receipt: e.receipt })
    }
    if (entries.length === 0 && ok) throw new CliError(o.line ? `no receipt for line ${o.line} in ${o.receipt}` : `${o.receipt} holds no receipts`)
  } else {
    entries.push({ label: '', payload, receipt })
  }
  for (const e of entries) {
    for (const c of await verifyOne(e.payload, e.receipt, o)) {
      out.push(`${c.ok ? '✓' : '✗'} ${e.label}${c.what}`)
      if (!c.ok) ok = false
    }
  }
  return { ok, lines: out }
}
