import { type ChainpointProof, entangleLabel, type NativeReceipt, type NativeEntanglement, verifyCrossChainpoint, verifyCrossNative, type EntanglementVerification } from '@profichain/core'
import { type Genesis, genesisOrigin, loadGenesis, validatorKeys } from '@profichain/consensus'
import { anchorNoteChecker, noteVerifier } from '@profichain/global'

/**
 * `verify` following cross-chain branches (DESIGN §11 "Receipts across chains"): a Chainpoint receipt with
 * nested `entangle-…` branches, or a native receipt with `entanglements`. With --genesis (ours) and
 * --partner-genesis (theirs) the note in each partner's anchor is checked: our validators signed that
 * checkpoint and the partner's validator cosigned it; native receipts also get the partner's block
 * signatures checked against its genesis. --partner-api asks a partner node for its block hash.
 */

export interface CrossOptions {
  genesis?: string
  partnerGenesis?: string[]
}

export interface CrossLine {
  ok: boolean
  what: string
  info?: boolean
}

export function hasCrossBranches(r: unknown): boolean {
  const x = r as { branches?: Array<{ branches?: unknown[] }>; entanglements?: unknown[] }
  return (Array.isArray(x?.branches) && Array.isArray(x.branches[0]?.branches) && x.branches[0].branches.length > 0) || (Array.isArray(x?.entanglements) && x.entanglements.length > 0)
}

interface Keys {
  own?: { origin: string; genesis: Genesis }
  partners: Array<{ origin: string; genesis: Genesis }>
}

async function keys(o: CrossOptions): Promise<Keys> {
  const own = o.genesis ? await loadGenesis(o.genesis) : undefined
  const partners = await Promise.all((o.partnerGenesis ?? []).map((f) => loadGenesis(f)))
  return { own: own ? { origin: genesisOrigin(own), genesis: own } : undefined, partners: partners.map((g) => ({ origin: genesisOrigin(g), genesis: g })) }
}

function noteCheck(k: Keys): ((note: string, which: string) => void) | undefined {
  if (!k.own || k.partners.length === 0) return undefined
  const own = { origin: k.own.origin, verifiers: validatorKeys(k.own.genesis).map((v) => noteVerifier(k.own!.origin, v)) }
  const partners = k.partners.map((p) => ({ origin: p.origin, verifiers: validatorKeys(p.genesis).map((v) => noteVerifier(p.origin, v)) }))
  return anchorNoteChecker(own, partners, entangleLabel)
}

function partnerName(k: Keys, e: EntanglementVerification): string | undefined {
  return e.partnerOrigin ?? k.partners.find((p) => entangleLabel(p.origin) === e.label)?.origin
}

/**
 * Check the cross-chain part of a receipt (the record's own part is checked by `verifyOne` as before).
 * Returns the check lines and, per entanglement, the partner block to compare with a partner node.
 * Throws ProofError like the single-chain verifiers.
 */
export async function verifyCross(
  payload: Uint8Array,
  receipt: unknown,
  o: CrossOptions,
): Promise<{ lines: CrossLine[]; blocks: Array<{ network: string; height: number; blockHash: string; uri?: string }>; anchored: boolean; notesChecked: boolean }> {
  const k = await keys(o)
  const verifyNote = noteCheck(k)
  const lines: CrossLine[] = []
  const blocks: Array<{ network: string; height: number; blockHash: string; uri?: string }> = []
  let ents: EntanglementVerification[]
  let anchored = false
  const r = receipt as { type?: string; entanglements?: NativeEntanglement[] }
  if (r.entanglements) {
    const v = verifyCrossNative(r as NativeReceipt & { entanglements: NativeEntanglement[] }, {
      payload,
      validators: k.own ? validatorKeys(k.own.genesis) : undefined,
      partnerValidators: k.partners.length > 0 ? (origin) => k.partners.find((p) => p.origin === origin)?.genesis && validatorKeys(k.partners.find((p) => p.origin === origin)!.genesis) : undefined,
      verifyNote,
    })
    ents = v.entanglements
    anchored = k.partners.length > 0
  } else {
    ents = verifyCrossChainpoint(receipt as ChainpointProof, { payload, verifyNote }).entanglements
  }
  for (const e of ents) {
    const who = partnerName(k, e) ?? e.label
    lines.push({ ok: true, what: `block-log path leads from the record's block to checkpoint ${e.checkpoint.size} of ${e.checkpoint.origin} (root ${e.checkpoint.root.slice(0, 16)}…)` })
    if (verifyNote) lines.push({ ok: true, what: `that checkpoint is signed by a validator of ${e.checkpoint.origin} and cosigned by ${who}` })
    else lines.push({ ok: true, what: `checkpoint signatures NOT checked (pass --genesis and --partner-genesis <file of ${who}>)` })
    lines.push({ ok: true, what: `${who} recorded it in tx ${e.anchor.txId.slice(0, 16)}… of its block ${e.anchor.height} of "${e.anchor.network}" = ${e.anchor.blockHash}` })
    const uri = 'anchorUris' in e.anchor ? e.anchor.anchorUris[0] : undefined
    blocks.push({ network: e.anchor.network, height: e.anchor.height, blockHash: e.anchor.blockHash, uri })
  }
  return { lines, blocks, anchored: anchored && verifyNote !== undefined, notesChecked: verifyNote !== undefined }
}
