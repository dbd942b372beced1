// Partners: the logs this network witnesses (DESIGN §11), from node config `partners` plus <dataDir>/partners.json.
import { join } from 'node:path'
import { type NoteVerifier, parseVkey } from '../tlog/index.js'
import type { WitnessedLog } from '../tlog/index.js'
import { LogError } from './errors.js'
import { readVersion1File, writeJsonFileAtomic } from './json-file.js'

/** A partner network: its log origin, the note vkeys its checkpoints are signed with, how many must sign. */
export interface Partner {
  /** Local name (unique), e.g. "acme". */
  name: string
  /** Its log origin (its genesis `origin`). */
  origin: string
  /** Its checkpoint signers' note vkeys (`profichain checkpoint --vkeys` on the partner). */
  vkeys: string[]
  /** Distinct vkeys that must have signed a checkpoint (1..vkeys.length). */
  threshold: number
  /** Its X25519 public key (hex, 64) for the broker's HPKE envelope. */
  encryptionKey?: string
  /** MQTT broker URL where it is reached. */
  broker?: string
  /** Its witness endpoint base URL (POST <witnessUrl>/add-checkpoint), when reachable directly. */
  witnessUrl?: string
}

export const PARTNERS_FILE = 'partners.json'
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const HEX64_RE = /^[0-9a-f]{64}$/

function isUrl(s: unknown): s is string {
  if (typeof s !== 'string') return false
  try {
    new URL(s)
    return true
  } catch {
    return false
  }
}

/** Validate one partner (from config or partners.json); throws LogError ERR_PARTNERS naming the field. */
export function parsePartner(raw: unknown, where = 'partner'): Partner {
  const bad = (field: string, what: string): never => {
    throw new LogError('ERR_PARTNERS', `${where}.${field}: ${what}`, { where, field })
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad('', 'expected an object')
  const r = raw as Record<string, unknown>
  for (const k of Object.keys(r))
    if (!['name', 'origin', 'vkeys', 'threshold', 'encryptionKey', 'broker', 'witnessUrl'].includes(k))
      bad(k, 'unknown field (check its spelling)')
  if (typeof r.name !== 'string' || !NAME_RE.test(r.name)) bad('name', 'expected 1-64 letters, digits, ".", "_", "-"')
  if (typeof r.origin !== 'string' || r.origin.length === 0 || /[\s+]/.test(r.origin))
    bad('origin', 'expected a log origin such as "acme.example/profichain/plant-1"')
  if (!Array.isArray(r.vkeys) || r.vkeys.length === 0 || r.vkeys.length > 64)
    bad('vkeys', "expected 1-64 note vkeys (the partner's `profichain checkpoint --vkeys`)")
  const vkeys = r.vkeys as unknown[]
  vkeys.forEach((v, i) => {
    try {
      const p = parseVkey(String(v))
      if (p.name !== r.origin) bad(`vkeys[${i}]`, `key name "${p.name}" is not the partner's origin "${String(r.origin)}"`)
    } catch (err) {
      if (err instanceof LogError) throw err
      bad(`vkeys[${i}]`, `not a note vkey: ${(err as Error).message}`)
    }
  })
  const threshold = r.threshold ?? 1
  if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 1 || threshold > vkeys.length)
    bad('threshold', `expected an integer in 1..${vkeys.length}`)
  if (r.encryptionKey !== undefined && (typeof r.encryptionKey !== 'string' || !HEX64_RE.test(r.encryptionKey)))
    bad('encryptionKey', 'expected a 64-hex X25519 public key')
  if (r.broker !== undefined && !isUrl(r.broker)) bad('broker', 'expected a URL such as mqtts://broker.example:8883')
  if (r.witnessUrl !== undefined && !isUrl(r.witnessUrl)) bad('witnessUrl', 'expected a URL such as https://acme.example/profichain')
  return {
    name: r.name as string,
    origin: r.origin as string,
    vkeys: vkeys.map(String),
    threshold: threshold as number,
    ...(r.encryptionKey !== undefined ? { encryptionKey: r.encryptionKey as string } : {}),
    ...(r.broker !== undefined ? { broker: r.broker as string } : {}),
    ...(r.witnessUrl !== undefined ? { witnessUrl: r.witnessUrl as string } : {}),
  }
}

/** Validate a list; names and origins must be unique. */
export function parsePartners(raw: unknown, where = 'partners'): Partner[] {
  if (!Array.isArray(raw)) throw new LogError('ERR_PARTNERS', `${where}: expected an array of partners`, { where })
  const out = raw.map((p, i) => parsePartner(p, `${where}[${i}]`))
  const names = new Set<string>()
  const origins = new Set<string>()
  out.forEach((p, i) => {
    if (names.has(p.name)) throw new LogError('ERR_PARTNERS', `${where}[${i}].name: duplicate partner "${p.name}"`)
    if (origins.has(p.origin)) throw new LogError('ERR_PARTNERS', `${where}[${i}].origin: duplicate origin "${p.origin}"`)
    names.add(p.name)
    origins.add(p.origin)
  })
  return out
}

/** `<dataDir>/partners.json`: `{ "version": 1, "partners": [...] }`; empty when the file does not exist. */
export async function readPartnersFile(dataDir: string): Promise<Partner[]> {
  const path = join(dataDir, PARTNERS_FILE)
  const file = await readVersion1File(path, 'partners')
  return file ? parsePartners(file.list, path) : []
}

/** Replace `<dataDir>/partners.json` atomically (validated first). */
export async function writePartnersFile(dataDir: string, partners: readonly Partner[]): Promise<void> {
  const list = parsePartners(partners)
  await writeJsonFileAtomic(join(dataDir, PARTNERS_FILE), { version: 1, partners: list })
}

/** The partners from config plus partners.json (a name or origin in both: the config wins). */
export async function loadPartners(configPartners: readonly unknown[], dataDir: string): Promise<Partner[]> {
  const fromConfig = parsePartners(configPartners, 'config partners')
  const fromFile = await readPartnersFile(dataDir)
  const out = [...fromConfig]
  for (const p of fromFile)
    if (!out.some((q) => q.name === p.name || q.origin === p.origin)) out.push(p)
  return out
}

/** A partner as tlog's WitnessedLog (its verifiers and threshold). */
export function witnessedLog(p: Partner): WitnessedLog {
  const verifiers: NoteVerifier[] = p.vkeys.map((v) => parseVkey(v))
  return { origin: p.origin, verifiers, threshold: p.threshold }
}

/** The live partner list: reloads partners.json when asked (h13-ent's CLI edits it while the node runs). */
export interface PartnerRegistry {
  list(): Partner[]
  byOrigin(origin: string): Partner | undefined
  reload(): Promise<Partner[]>
}

export async function createPartnerRegistry(init: { configPartners: readonly unknown[]; dataDir: string }): Promise<PartnerRegistry> {
  let partners = await loadPartners(init.configPartners, init.dataDir)
  return {
    list: () => partners,
    byOrigin: (origin) => partners.find((p) => p.origin === origin),
    reload: async () => {
      partners = await loadPartners(init.configPartners, init.dataDir)
      return partners
    },
  }
}
