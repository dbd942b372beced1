import { readFile, writeFile } from 'node:fs/promises'
import {
  type ChainpointProof,
  decodeTransaction,
  fromHex,
  isHex,
  NATIVE_RECEIPT_TYPE,
  type NativeReceipt,
  openTier2Tx,
  type StrippedTx,
  Tier2Error,
  tier2Header,
  verifyChainpointReceipt,
  verifyNativeReceipt,
} from '@profichain/core'
import { CliError } from './util.js'
import { verifyOne } from './verify.js'

export interface DecryptOptions {
  /** The record key K, 64 hex. */
  key: string
  /** Chainpoint (.chp.json, or the `chainpoint` text of a pushed receipt) or native receipt. */
  receipt: string
  /** Where the plaintext goes (mode 0600); stdout when absent. */
  out?: string
  /** Check the block hash against this node's canonical chain. */
  api?: string
  token?: string
}

export interface DecryptResult {
  ok: boolean
  lines: string[]
  plaintext?: Uint8Array
}

/** `decrypt` exit codes: decrypted (receipt, key commitment and ciphertext hold); a check failed; usage. */
export const DECRYPT_EXIT = { ok: 0, failed: 1, usage: 2 } as const

/**
 * `profichain decrypt FILE --key K --receipt R` (docs/ingest-protocol.md §6): FILE is the record as submitted
 * (the transaction, CBOR) or its payload alone (the ciphertext, e.g. from GET /tx/<id>/payload). The receipt
 * must prove that payload; its signed tx carries the tier-2 header (epoch, key commitment), so K is checked
 * against the commitment before AES-GCM opens the ciphertext.
 */
export async function decryptFile(file: string, o: DecryptOptions): Promise<DecryptResult> {
  if (!isHex(o.key, 32)) throw new CliError('ERR_CLI_USAGE', '--key must be the record key: 64 hex characters')
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await readFile(file))
  } catch (err) {
    throw new CliError('ERR_CLI_FILE', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  let receipt: unknown
  try {
    receipt = JSON.parse(await readFile(o.receipt, 'utf8'))
  } catch (err) {
    throw new CliError('ERR_CLI_FILE', `cannot read receipt ${o.receipt}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  // The submitted transaction, or the payload itself.
  let payload = bytes
  try {
    payload = decodeTransaction(bytes).payload
  } catch {
    payload = bytes
  }
  const lines: string[] = []
  const checked = await verifyOne(payload, receipt, { receipt: o.receipt, api: o.api, token: o.token })
  for (const c of checked.checks) lines.push(c.info ? c.what : `${c.ok ? '✓' : '✗'} ${c.what}`)
  if (checked.checks.some((c) => !c.ok)) return { ok: false, lines }
  const r = receipt as Record<string, unknown>
  const tx: StrippedTx =
    r.type === NATIVE_RECEIPT_TYPE
      ? verifyNativeReceipt(receipt as NativeReceipt, { payload }).tx
      : verifyChainpointReceipt(receipt as ChainpointProof, { payload }).tx
  try {
    const h = tier2Header(tx.body.metadata)
    const plaintext = openTier2Tx(fromHex(o.key), { body: tx.body, payload })
    lines.push(`✓ the key matches the record's signed key commitment (tier2.commit, epoch ${h.epoch}, seq ${tx.body.seq})`)
    lines.push(`✓ AES-256-GCM authenticates the ciphertext: ${plaintext.byteLength} bytes of plaintext`)
    if (o.out !== undefined) {
      await writeFile(o.out, plaintext, { mode: 0o600 })
      lines.push(`plaintext written to ${o.out}`)
    }
    return { ok: true, lines, plaintext }
  } catch (err) {
    if (!(err instanceof Tier2Error)) throw err
    lines.push(`✗ ${err.code}: ${err.message}`)
    return { ok: false, lines }
  }
}
