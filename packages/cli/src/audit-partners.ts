import { join, resolve } from 'node:path'
import { createConsensus, genesisOrigin, loadGenesis, validatorKeys } from '@profichain/consensus'
import { ProfichainError } from '@profichain/core'
import {
  createEvidenceStore,
  createWitnessStateStore,
  decodeEntanglementProof,
  loadPartners,
  noteVerifier,
  openNote,
  parseCheckpoint,
  parseVkey,
  verifyEntanglementProof,
} from '@profichain/global'
import { loadConfig, PartnersStateFile } from '@profichain/node'
import { BlockTree } from '@profichain/store'
import { CliError } from './util.js'

export interface PartnersAudit {
  lines: string[]
  /** Evidence kept (a partner contradicted itself) or a stored proof that no longer verifies. */
  problems: number
  json: {
    partners: Array<{ name: string; origin: string; witnessedSize?: number; witnessedNoteOk?: boolean; entanglements: Array<{ size: number; ok: boolean; error?: string }> }>
    evidence: Array<{ origin: string; kind: string; at: string; previous: string; offered: string }>
  }
}

function msg(err: unknown): string {
  return err instanceof ProfichainError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err)
}

/**
 * `profichain audit --partners`: everything a stopped node stores about its partners, re-checked: the
 * state it witnessed per partner (the signed note still verifies with the partner's vkeys), every
 * entanglement proof it received (verified again against our genesis and the partner's keys), and the
 * evidence it kept (partner checkpoints inconsistent with the ones cosigned before). Evidence or a proof
 * that fails counts as a problem (exit 1).
 */
export async function auditPartners(dataDir: string): Promise<PartnersAudit> {
  const dir = resolve(dataDir)
  const config = await loadConfig(join(dir, 'config.toml'))
  const genesis = await loadGenesis(config.paths.genesis)
  const origin = genesisOrigin(genesis)
  const ownVerifiers = validatorKeys(genesis).map((k) => noteVerifier(origin, k))
  const partners = await loadPartners(config.partners ?? [], dir)
  let tree: BlockTree
  try {
    tree = await BlockTree.open({ path: config.paths.db, genesis, consensus: createConsensus(genesis), genesisSource: config.paths.genesis })
  } catch (err) {
    if (err instanceof ProfichainError && err.code === 'ERR_STORE_LOCKED') throw new CliError('ERR_CLI_NODE_RUNNING', `the node in ${dataDir} is running; stop it first`)
    throw err
  }
  const out: PartnersAudit = { lines: [], problems: 0, json: { partners: [], evidence: [] } }
  try {
    const kv = tree.globalBuckets()
    const states = createWitnessStateStore(kv)
    const files = new PartnersStateFile(join(dir, 'partners'))
    for (const p of partners) {
      const verifiers = p.vkeys.map((v) => parseVkey(v))
      const entry: PartnersAudit['json']['partners'][number] = { name: p.name, origin: p.origin, entanglements: [] }
      const st = await states.get(p.origin)
      if (st) {
        entry.witnessedSize = st.size
        try {
          const cp = parseCheckpoint(openNote(st.note, verifiers).text)
          entry.witnessedNoteOk = cp.size === st.size
        } catch (err) {
          entry.witnessedNoteOk = false
          out.lines.push(`BAD WITNESS STATE ${p.name}: the stored checkpoint of size ${st.size} does not verify: ${msg(err)}`)
          out.problems++
        }
        out.lines.push(`partner ${p.name} (${p.origin}): we cosigned its checkpoint up to size ${st.size}${entry.witnessedNoteOk ? ' (signed note verifies)' : ''}`)
      } else out.lines.push(`partner ${p.name} (${p.origin}): no checkpoint of it witnessed yet`)
      for (const size of await files.entanglementSizes(p.origin)) {
        try {
          const proof = decodeEntanglementProof(await files.readEntanglement(p.origin, size))
          const v = verifyEntanglementProof(proof, { ownOrigin: origin, ownVerifiers, partner: { origin: p.origin, verifiers } })
          if (v.checkpoint.size !== size) throw new Error(`stored as size ${size} but proves size ${v.checkpoint.size}`)
          entry.entanglements.push({ size, ok: true })
          out.lines.push(`  entanglement: our checkpoint ${size} is in its block ${v.height} (${v.blockHash.slice(0, 16)}…), tx ${v.txId.slice(0, 16)}…`)
        } catch (err) {
          entry.entanglements.push({ size, ok: false, error: msg(err) })
          out.lines.push(`BAD ENTANGLEMENT from ${p.name} for our checkpoint ${size}: ${msg(err)}`)
          out.problems++
        }
      }
      out.json.partners.push(entry)
    }
    for (const e of await createEvidenceStore(kv).list()) {
      const at = new Date(e.at).toISOString()
      out.json.evidence.push({ origin: e.origin, kind: e.kind, at, previous: e.previous, offered: e.offered })
      const size = (note: string) => {
        try {
          return parseCheckpoint(note.slice(0, note.indexOf('\n\n') + 1)).size
        } catch {
          return '?'
        }
      }
      out.lines.push(`EVIDENCE ${e.kind} from ${e.origin} at ${at}: it offered a checkpoint of size ${size(e.offered)} that contradicts the one of size ${size(e.previous)} we cosigned (both signed notes kept; --json prints them)`)
      out.problems++
    }
  } finally {
    await tree.close()
  }
  out.lines.push(`audited ${partners.length} partner(s): ${out.problems === 0 ? 'all consistent' : `${out.problems} problem(s)`}`)
  return out
}
