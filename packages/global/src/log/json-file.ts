import { randomBytes } from 'node:crypto'
import { open, readFile, rename, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { LogError } from './errors.js'

/** Read a JSON file; undefined when it does not exist. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  return JSON.parse(text)
}

/**
 * The `key` member of a `{ "version": 1, "<key>": ... }` file (partners.json, witnesses.json), unchecked;
 * null when the file does not exist. Bad JSON or another version: LogError ERR_PARTNERS naming the file.
 */
export async function readVersion1File(path: string, key: string): Promise<{ list: unknown } | null> {
  let raw: unknown
  try {
    raw = await readJsonFile(path)
  } catch (err) {
    throw new LogError('ERR_PARTNERS', `${path} is not valid JSON: ${(err as Error).message}`, { path })
  }
  if (raw === undefined) return null
  const r = raw as Record<string, unknown> | null
  if (r === null || typeof r !== 'object' || r.version !== 1) throw version1Error(path, key)
  return { list: r[key] }
}

/** The error of a file that is not `{ "version": 1, "<key>": [...] }`. */
export function version1Error(path: string, key: string): LogError {
  return new LogError('ERR_PARTNERS', `${path}: expected { "version": 1, "${key}": [...] }`, { path })
}

/** Write JSON atomically: a synced temp file in the same directory, renamed over the target, directory synced. */
export async function writeJsonFileAtomic(path: string, value: unknown): Promise<void> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'w', 0o644)
  try {
    await fh.writeFile(`${JSON.stringify(value, null, 2)}\n`)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    throw err
  }
  const dir = await open(dirname(path), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}
