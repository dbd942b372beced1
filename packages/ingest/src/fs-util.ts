import { createHash, randomBytes } from 'node:crypto'
import { lstatSync, readFileSync } from 'node:fs'
import { copyFile, link, mkdir, readdir, rename, unlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/**
 * Files up to this size are read (and stat'ed) with synchronous calls on the main thread: a few µs each on a
 * local disk, where each async call is a round trip through libuv's thread pool, shared with LevelDB's
 * fsyncs. Calls that WRITE metadata (create, link, rename, unlink) stay asynchronous: while an fsync commits
 * the file system's journal they wait for it, and must not block the event loop meanwhile.
 */
export const SMALL_FILE_BYTES = 64 * 1024

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

export { errCode }

/** Error codes that mean "the disk cannot take writes now" (retry later, never reject the file). */
const DISK_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS'])

/** The disk-level code of `err` (ENOSPC, EDQUOT, EIO, EROFS), also when only its message says so (LevelDB). */
export function diskErrorCode(err: unknown): string | undefined {
  const code = errCode(err)
  if (code !== undefined && DISK_CODES.has(code)) return code
  const cause = (err as { cause?: unknown } | undefined)?.cause
  if (cause !== undefined && cause !== err) {
    const c = diskErrorCode(cause)
    if (c !== undefined) return c
  }
  const msg = String((err as Error | undefined)?.message ?? err)
  if (/ENOSPC|No space left/i.test(msg)) return 'ENOSPC'
  if (/EDQUOT|quota exceeded/i.test(msg)) return 'EDQUOT'
  return undefined
}

async function exists(path: string): Promise<boolean> {
  try {
    lstatSync(path)
    return true
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false
    throw err
  }
}

/** `dir/name.ext` → `dir/name~n.ext` (a dotfile keeps its whole name as the base). */
export function suffixed(relPath: string, n: number | string): string {
  const slash = relPath.lastIndexOf('/')
  const dir = relPath.slice(0, slash + 1)
  const name = relPath.slice(slash + 1)
  const dot = name.lastIndexOf('.')
  if (dot <= 0) return `${dir}${name}~${n}`
  return `${dir}${name.slice(0, dot)}~${n}${name.slice(dot)}`
}

/** Longest file name segment (bytes) of Linux, macOS and Windows file systems. */
export const NAME_MAX = 255
const EXT_MAX = 24

/** Longest prefix of `s` that fits `maxBytes` of UTF-8 without splitting a character. */
function utf8Prefix(s: string, maxBytes: number): string {
  let bytes = 0
  let end = 0
  for (const ch of s) {
    const n = Buffer.byteLength(ch)
    if (bytes + n > maxBytes) break
    bytes += n
    end += ch.length
  }
  return s.slice(0, end)
}

/**
 * One file name segment plus `suffix`, at most NAME_MAX bytes: a name that would be longer keeps a prefix
 * of its base, then `~` + the first 16 hex of sha256(name), then its extension and the suffix.
 * Deterministic, so the same input always maps to the same short name.
 */
export function boundedName(name: string, suffix = ''): string {
  if (Buffer.byteLength(name + suffix) <= NAME_MAX) return name + suffix
  const tag = `~${createHash('sha256').update(name).digest('hex').slice(0, 16)}`
  const dot = name.lastIndexOf('.')
  const ext = dot > 0 && Buffer.byteLength(name.slice(dot)) <= EXT_MAX ? name.slice(dot) : ''
  const base = ext ? name.slice(0, dot) : name
  const budget = NAME_MAX - Buffer.byteLength(tag + ext + suffix)
  return `${utf8Prefix(base, Math.max(0, budget))}${tag}${ext}${suffix}`
}

/** `relPath` + `suffix` with every segment bounded by {@link boundedName} (the suffix goes on the last one). */
export function boundedPath(relPath: string, suffix = ''): string {
  const parts = relPath.split('/')
  const last = parts.length - 1
  return parts.map((p, i) => (i === last ? boundedName(p, suffix) : boundedName(p))).join('/')
}

/** Name candidate n (0 = the name itself) for `relPath` in an output folder, always writable. */
export function candidateName(relPath: string, n: number): string {
  return boundedPath(n === 0 ? relPath : suffixed(relPath, n))
}

/** Rename, or copy via a temp file + rename + unlink across file systems (the target never holds a half copy). */
async function moveFile(src: string | Buffer, dest: string): Promise<void> {
  try {
    await rename(src, dest)
  } catch (err) {
    if (errCode(err) !== 'EXDEV') throw err
    const tmp = join(dirname(dest), `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
    try {
      await copyFile(src, tmp)
      await rename(tmp, dest)
    } catch (copyErr) {
      await unlink(tmp).catch(() => {})
      throw copyErr
    }
    await unlink(src)
  }
}

/**
 * Move `src` to `<destRoot>/<relPath>`, creating folders; when that name is taken, `name~1.ext`,
 * `name~2.ext`, … (each bounded by {@link boundedPath}). Returns the relative path used.
 */
export async function moveInto(src: string | Buffer, destRoot: string, relPath: string): Promise<string> {
  await mkdir(dirname(join(destRoot, boundedPath(relPath))), { recursive: true })
  for (let n = 0; ; n++) {
    const candidate = candidateName(relPath, n)
    const dest = join(destRoot, candidate)
    if (await exists(dest)) continue
    await moveFile(src, dest)
    return candidate
  }
}

/**
 * Reserve a free name for `relPath` below `destRoot` by creating it exclusively with `token` as content.
 * A reservation holding the same token (an earlier run for the same file, killed before the move) is
 * reused, so the name a signed record carries stays the one the file gets. Returns the relative path.
 */
export async function reserveName(destRoot: string, relPath: string, token: string, made?: Set<string>): Promise<string> {
  await mkdirOnce(dirname(join(destRoot, boundedPath(relPath))), made)
  const want = Buffer.from(token)
  // Written whole under a temp name, then hard-linked (fails atomically if the name exists): a kill
  // never leaves a half-written reservation that a later run could not recognise.
  const tmp = join(destRoot, `.${process.pid}.${randomBytes(4).toString('hex')}.reserve.tmp`)
  try {
    await writeFile(tmp, want)
    for (let n = 0; ; n++) {
      const candidate = candidateName(relPath, n)
      const dest = join(destRoot, candidate)
      try {
        await link(tmp, dest)
        return candidate
      } catch (err) {
        if (errCode(err) === 'ENOENT' && made?.has(dirname(dest))) {
          // The folder was removed since we made it: make it again and retry this name.
          made.delete(dirname(dest))
          await mkdirOnce(dirname(dest), made)
          n--
          continue
        }
        if (errCode(err) !== 'EEXIST') throw err
      }
      if (await isReservation(dest, want)) return candidate
    }
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

async function isReservation(path: string, token: Buffer): Promise<boolean> {
  try {
    const st = lstatSync(path)
    if (!st.isFile() || st.size !== token.byteLength) return false
    return readFileSync(path).equals(token)
  } catch {
    return false
  }
}

/** Move `src` onto its reserved name `<destRoot>/<relPath>` (replacing the reservation). */
export async function moveOnto(src: string, destRoot: string, relPath: string): Promise<void> {
  await moveFile(src, join(destRoot, relPath))
}

/** Drop a reservation made by {@link reserveName} (only if it still holds `token`). */
export async function releaseName(destRoot: string, relPath: string, token: string): Promise<void> {
  const path = join(destRoot, relPath)
  if (await isReservation(path, Buffer.from(token))) await unlink(path).catch(() => {})
}

const TEMP_NAME = /^\.\d+\.[0-9a-f]{8}(\.reserve)?\.tmp$/

/** Remove temp files a killed run left in the top level of `dir` (ours are `.<pid>.<hex>[.reserve].tmp`). */
export async function removeStaleTemps(dir: string): Promise<number> {
  let n = 0
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (TEMP_NAME.test(name) && !name.startsWith(`.${process.pid}.`)) {
      await unlink(join(dir, name)).catch(() => {})
      n++
    }
  }
  return n
}

/**
 * `mkdir -p dir`, skipped when `made` says this process created or found it already. A folder removed
 * behind our back is caught by the caller's ENOENT: {@link writeFileAtomic} forgets it and retries once.
 */
export async function mkdirOnce(dir: string, made?: Set<string>): Promise<void> {
  if (made?.has(dir)) return
  await mkdir(dir, { recursive: true })
  made?.add(dir)
}

/** Write a file atomically: temp file in the same folder, then rename over the target. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, made?: Set<string>): Promise<void> {
  try {
    await writeFileAtomicIn(path, data, made)
  } catch (err) {
    if (made === undefined || errCode(err) !== 'ENOENT') throw err
    made.delete(dirname(path))
    await writeFileAtomicIn(path, data, made)
  }
}

async function writeFileAtomicIn(path: string, data: string | Uint8Array, made?: Set<string>): Promise<void> {
  await mkdirOnce(dirname(path), made)
  // A short dot-name: `<name>.tmp` would not fit beside a 255-byte name.
  const tmp = join(dirname(path), `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    await writeFile(tmp, data)
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}
