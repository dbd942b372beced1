// Outside witnesses (any c2sp.org/tlog-witness) this network asks to cosign its checkpoints: <dataDir>/witnesses.json.
import { join } from 'node:path'
import { parseVkey } from '../tlog/index.js'
import { LogError } from './errors.js'
import { readVersion1File, version1Error, writeJsonFileAtomic } from './json-file.js'

export interface OutsideWitness {
  /** The witness's cosigner key name (from its vkey). */
  name: string
  /** Base URL: the node POSTs `<url>/add-checkpoint` (a URL already ending in /add-checkpoint is used as is). */
  url: string
  /** Its cosigner vkey (type 0x04, c2sp.org/tlog-cosignature). */
  vkey: string
}

export const WITNESSES_FILE = 'witnesses.json'

export function parseOutsideWitness(raw: unknown, where = 'witness'): OutsideWitness {
  const r = (raw ?? {}) as Record<string, unknown>
  if (typeof r.url !== 'string' || !/^https?:\/\//.test(r.url))
    throw new LogError('ERR_PARTNERS', `${where}.url: expected an http(s) URL`, { where })
  try {
    new URL(r.url)
  } catch {
    throw new LogError('ERR_PARTNERS', `${where}.url: ${String(r.url)} is not a URL`, { where })
  }
  let name: string
  try {
    const v = parseVkey(String(r.vkey))
    if (v.alg !== 0x04) throw new Error('expected a cosigner vkey (type 0x04, c2sp.org/tlog-cosignature)')
    name = v.name
  } catch (err) {
    throw new LogError('ERR_PARTNERS', `${where}.vkey: not a witness cosigner vkey: ${(err as Error).message}`, { where })
  }
  return { name, url: r.url, vkey: String(r.vkey) }
}

export async function readWitnessesFile(dataDir: string): Promise<OutsideWitness[]> {
  const path = join(dataDir, WITNESSES_FILE)
  const file = await readVersion1File(path, 'witnesses')
  if (!file) return []
  if (!Array.isArray(file.list)) throw version1Error(path, 'witnesses')
  return file.list.map((w, i) => parseOutsideWitness(w, `${path} witnesses[${i}]`))
}

export async function writeWitnessesFile(dataDir: string, witnesses: readonly OutsideWitness[]): Promise<void> {
  const names = new Set<string>()
  for (const w of witnesses) {
    if (names.has(w.name)) throw new LogError('ERR_PARTNERS', `two witnesses named "${w.name}"`)
    names.add(w.name)
  }
  await writeJsonFileAtomic(join(dataDir, WITNESSES_FILE), { version: 1, witnesses })
}
