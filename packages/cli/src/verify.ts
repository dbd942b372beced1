import { readFile } from 'node:fs/promises'
import {
  anchorUri,
  type ChainpointProof,
  type NativeReceipt,
  NATIVE_RECEIPT_TYPE,
  type NativeVerification,
  ProofError,
  sha256,
  toHex,
  verifyChainpointReceipt,
  verifyEthChainpoint,
  verifyEthNative,
  verifyNativeReceipt,
  ETH_BRANCH_LABEL,
  type EthAnchorVerification,
} from '@profichain/core'
import { AnchorError, checkEthAnchor } from '@profichain/anchor'
import { type Genesis, loadGenesis, QuorumConsensus, validatorKeys } from '@profichain/consensus'
import { lineFormatOf, readLineReceipts, splitLines } from '@profichain/ingest'
import { apiBase, apiToken } from './api-client.js'
import { CliError, readJsonFile } from './util.js'
import { hasCrossBranches, verifyCross } from './verify-cross.js'

export interface VerifyOptions {
  receipt: string
  genesis?: string
  /** Node whose canonical chain the block hash is checked against. */
  api?: string
  /** Bearer token for `api` (default PROFICHAIN_API_TOKEN). */
  token?: string
  /** Line-mode receipts: which line (1-based) of the file to check; default all. */
  line?: number
  /** Cross-chain receipts: partner genesis files (checkpoint cosignatures, partner validators). */
  partnerGenesis?: string[]
  /** Cross-chain receipts: partner nodes asked for the partner block hashes. */
  partnerApi?: string[]
  /** Public anchors (`eth` branches): an Ethereum JSON-RPC URL to check the anchor txs; absent: reported UNCHECKED. */
  ethRpc?: string
}

export interface CheckLine {
  ok: boolean
  what: string
  /** A statement, not a check: printed without ✓/✗ and never fails the verification (e.g. "final: no (…)"). */
  info?: boolean
}

/**
 * `verify` exit codes: everything checked and anchored; a check failed; usage; the proof is consistent
 * but nothing tied its block to a real chain (no --api, and no --genesis for a native receipt).
 */
export const VERIFY_EXIT = { verified: 0, failed: 1, usage: 2, anchorNotChecked: 3 } as const
export type VerifyOutcome = 'verified' | 'failed' | 'anchorNotChecked'

export interface VerifyResult {
  outcome: VerifyOutcome
  lines: string[]
}

/** One receipt's checks; `anchored` says whether its block was tied to a chain (node or validator set). */
export interface OneResult {
  checks: CheckLine[]
  anchored: boolean
}

type HashCache = Map<string, Promise<string>>

/** Fetch the canonical block hash at a height from a node's plain-hex anchor URI. */
async function canonicalHash(url: string, token: string | undefined): Promise<string> {
  let res: Response
  try {
    res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(10_000) })
  } catch (err) {
    throw new CliError('ERR_CLI_API_UNREACHABLE', `cannot reach ${url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`, { url }, { cause: err })
  }
  if (res.status === 401) throw new CliError('ERR_CLI_API_AUTH', `${url} wants a bearer token: pass --token or set PROFICHAIN_API_TOKEN`, { url })
  if (res.status === 404) return '(no such block)'
  if (!res.ok) throw new CliError('ERR_CLI_API_RESPONSE', `${url} answered ${res.status}`, { url, status: res.status })
  return (await res.text()).trim().toLowerCase()
}

/** Ask the node given with --api (never the host the receipt names) for the block at this height. */
async function anchorCheck(o: VerifyOptions, cache: HashCache, network: string, height: number, blockHash: string, receiptUri: string | undefined): Promise<CheckLine[]> {
  const base = apiBase(o.api as string)
  const url = anchorUri(base, network, height)
  let p = cache.get(url)
  if (!p) {
    p = canonicalHash(url, apiToken(o.token))
    cache.set(url, p)
  }
  const canon = await p
  const out: CheckLine[] = []
  const ok = canon === blockHash
  out.push({ ok, what: `asked node ${base}: its canonical block ${height} of "${network}" is ${canon}${ok ? '' : ` (the receipt's block is ${blockHash})`}` })
  if (receiptUri) {
    let named: string
    try {
      named = new URL(receiptUri).origin
    } catch {
      named = receiptUri
    }
    if (named !== new URL(base).origin) out.push({ ok: true, what: `note: the receipt's anchor URI names node ${named}; the node asked was ${base}` })
  }
  return out
}

/**
 * Whether the receipt's block was final by the header signatures it carries (quorum: `threshold` distinct
 * validators with a valid signature over the block hash). A receipt written before enough votes arrived says
 * "no" although the chain may have finalised the block since: fetch the receipt again (`proof`) to see that.
 */
export function finality(genesis: Genesis, header: NativeVerification['header']): CheckLine {
  if (genesis.consensus.type !== 'quorum') {
    return { ok: true, info: true, what: `final: not applicable (consensus "${genesis.consensus.type}" has no validator co-signatures)` }
  }
  const q = new QuorumConsensus(genesis)
  const votes = q.votes(header)
  const n = genesis.validators.length
  return { ok: true, info: true, what: `final: ${votes >= q.threshold ? 'yes' : 'no'} (${votes} of ${n} validator signatures, threshold ${q.threshold})` }
}

/** Check one payload against one receipt (Chainpoint or native). Never throws ProofError. */
export async function verifyOne(payload: Uint8Array, receipt: unknown, o: VerifyOptions, cache: HashCache = new Map()): Promise<OneResult> {
  const checks: CheckLine[] = []
  const r = receipt as Record<string, unknown>
  let anchored = false
  try {
    if (r?.type === NATIVE_RECEIPT_TYPE) {
      const genesis = o.genesis ? await loadGenesis(o.genesis) : undefined
      const validators = genesis ? validatorKeys(genesis) : undefined
      const v = verifyNativeReceipt(r as unknown as NativeReceipt, { payload, validators })
      checks.push({ ok: true, what: `payload SHA-256 ${toHex(sha256(payload))} matches the signed record` })
      checks.push({ ok: true, what: `record signature by origin ${toHex(v.tx.body.origin).slice(0, 16)}… verifies; txId ${v.txId}` })
      checks.push({ ok: true, what: `Merkle inclusion proof leads to the root of block ${v.height} (${v.blockHash})` })
      checks.push({ ok: true, what: `producer signature by ${v.producer.slice(0, 16)}… verifies` })
      if (validators) {
        checks.push({ ok: true, what: `producer is a validator of network "${v.network}" (genesis ${o.genesis})` })
        checks.push(finality(genesis as Genesis, v.header))
        anchored = true
      } else checks.push({ ok: true, what: 'producer NOT checked against a validator set (pass --genesis of the network)' })
      if (o.api) {
        checks.push(...(await anchorCheck(o, cache, v.network, v.height, v.blockHash, (r as unknown as NativeReceipt).anchorUri)))
        anchored = true
      }
    } else if (r?.['@context'] !== undefined) {
      const v = verifyChainpointReceipt(r as unknown as ChainpointProof, { payload })
      checks.push({ ok: true, what: `payload SHA-256 ${toHex(sha256(payload))} matches the receipt` })
      checks.push({ ok: true, what: `record signature by origin ${toHex(v.tx.body.origin).slice(0, 16)}… verifies; txId ${v.txId}` })
      checks.push({ ok: true, what: `proof operations compute block ${v.height} of "${v.network}" = ${v.blockHash} (anchor_id ${v.anchorId})` })
      if (o.api) {
        checks.push(...(await anchorCheck(o, cache, v.network, v.height, v.blockHash, v.anchorUris[0])))
        anchored = true
      } else {
        checks.push({ ok: true, what: `block hash NOT checked against a chain (pass --api URL of a node of "${v.network}"; the receipt names ${v.anchorUris[0]})` })
      }
    } else {
      checks.push({ ok: false, what: 'receipt is neither a Chainpoint v5 proof nor a ProfichainReceipt' })
    }
    let eth: EthAnchorVerification[] = []
    if (checks.every((c) => c.ok)) {
      eth = r?.type === NATIVE_RECEIPT_TYPE
        ? verifyEthNative(r as unknown as NativeReceipt, verifyNativeReceipt(r as unknown as NativeReceipt, { payload }).height)
        : verifyEthChainpoint(r as unknown as ChainpointProof, { payload }).eth
    }
    for (const e of eth) {
      const line = await ethCheck(e, o)
      checks.push(line)
      if (line.ok && !line.info) anchored = true
    }
    const rest = withoutEth(r)
    if (checks.every((c) => c.ok) && hasCrossBranches(rest)) {
      const cross = await crossChecks(payload, rest, o, cache)
      checks.push(...cross.checks)
      // A partner chain that holds our validators' signed checkpoint anchors the record's block too.
      if (cross.anchored) anchored = true
    }
  } catch (err) {
    if (err instanceof ProofError) checks.push({ ok: false, what: `${err.code}: ${err.message}` })
    else throw err
  }
  return { checks, anchored }
}

/** The receipt without its public-chain anchors (the cross-chain verifier knows only `entangle-…` branches). */
function withoutEth(r: Record<string, unknown>): Record<string, unknown> {
  if (!r || typeof r !== 'object') return r
  const { ethAnchors: _drop, ...native } = r
  const branches = native.branches as Array<{ branches?: Array<{ label?: string }> }> | undefined
  if (!Array.isArray(branches) || !Array.isArray(branches[0]?.branches)) return native
  const nested = branches[0].branches.filter((b) => b?.label !== ETH_BRANCH_LABEL)
  const { branches: _b, ...main } = branches[0]
  return { ...native, branches: [nested.length > 0 ? { ...main, branches: nested } : main, ...branches.slice(1)] }
}

/** One eth anchor: checked on the public chain with --eth-rpc, else reported UNCHECKED (never as valid). */
async function ethCheck(e: EthAnchorVerification, o: VerifyOptions): Promise<CheckLine> {
  const what = `eth anchor: checkpoint ${e.checkpoint.size} of "${e.checkpoint.origin}" (root ${e.checkpoint.root.slice(0, 16)}…) in tx ${e.txHash}`
  if (!o.ethRpc) return { ok: true, info: true, what: `${what} UNCHECKED (pass --eth-rpc URL of an Ethereum node${e.chainId !== undefined ? ` of chain ${e.chainId}` : ''})` }
  try {
    const c = await checkEthAnchor(o.ethRpc, { txHash: e.txHash, calldata: e.calldata, minDepth: e.confirmations ?? 1, chainId: e.chainId })
    return { ok: true, what: `${what}: on chain ${c.chainId} in block ${c.blockNumber}, ${c.depth} deep (${o.ethRpc})` }
  } catch (err) {
    if (err instanceof AnchorError) return { ok: false, what: `${what}: ${err.code}: ${err.message}` }
    throw err
  }
}

/** The cross-chain branches of a receipt (verify-cross.ts), each partner block asked of a --partner-api node. */
async function crossChecks(payload: Uint8Array, r: unknown, o: VerifyOptions, cache: HashCache): Promise<OneResult> {
  const x = await verifyCross(payload, r, { genesis: o.genesis, partnerGenesis: o.partnerGenesis })
  const out: CheckLine[] = [...x.lines]
  let anchored = x.anchored
  for (const b of x.blocks) {
    if (!o.partnerApi?.length) {
      out.push({ ok: true, info: true, what: `partner block ${b.height} of "${b.network}" NOT checked against its chain (pass --partner-api URL of a node of "${b.network}")` })
      continue
    }
    let best: CheckLine[] | undefined
    for (const api of o.partnerApi) {
      const lines = await anchorCheck({ ...o, api }, cache, b.network, b.height, b.blockHash, b.uri)
      if (lines.every((l) => l.ok)) {
        best = lines
        break
      }
      best ??= lines
    }
    out.push(...(best ?? []))
    if (best?.every((l) => l.ok) && x.notesChecked) anchored = true
  }
  return { checks: out, anchored }
}

/** Check a file (or each line of a line-mode export) against its receipt(s). */
export async function verifyFile(file: string, o: VerifyOptions): Promise<VerifyResult> {
  let payload: Buffer
  try {
    payload = await readFile(file)
  } catch (err) {
    throw new CliError('ERR_CLI_FILE', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (o.api) apiBase(o.api) // a bad --api is a usage error before any check runs
  // Line-mode receipts are append-only JSON lines (`.chp.jsonl`, later entry wins); others one JSON document.
  const receipt = o.receipt.endsWith('.jsonl')
    ? await readLineReceipts(o.receipt).catch((err: NodeJS.ErrnoException) => {
        throw new CliError('ERR_CLI_FILE', `cannot read receipt ${o.receipt}: ${err.code ?? err.message}`)
      })
    : await readJsonFile(o.receipt, 'receipt')
  const out: string[] = []
  let ok = true
  let anchored = true
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
    if (entries.length === 0 && ok) throw new CliError('ERR_CLI_NOT_FOUND', o.line ? `no receipt for line ${o.line} in ${o.receipt}` : `${o.receipt} holds no receipts`)
  } else {
    entries.push({ label: '', payload, receipt })
  }
  const cache: HashCache = new Map()
  for (const e of entries) {
    const r = await verifyOne(e.payload, e.receipt, o, cache)
    for (const c of r.checks) {
      out.push(c.info ? `${e.label}${c.what}` : `${c.ok ? '✓' : '✗'} ${e.label}${c.what}`)
      if (!c.ok) ok = false
    }
    if (!r.anchored) anchored = false
  }
  return { outcome: !ok ? 'failed' : anchored ? 'verified' : 'anchorNotChecked', lines: out }
}
