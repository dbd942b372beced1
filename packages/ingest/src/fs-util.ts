import { createHash, randomBytes } from 'node:crypto'
import { closeSync, linkSync, lstatSync, open as openCb, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { copyFile, mkdir, readdir, rename, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'

const openAsync = promisify(openCb)

/**
 * Files up to this size are read (and stat'ed) with synchronous calls on the main thread: a few µs each on a
 * local disk, where each async call is a round trip through libuv's thread pool, shared with LevelDB's
 * fsyncs. Creating a file (a new inode) stays asynchronous: on ext4 it waits for the journal that those
 * fsyncs commit (measured ~0.5–1.5 ms each while LevelDB syncs, p99 10+ ms), and must not block the event
 * loop. A link or unlink of an existing inode costs ~10–20 µs (p99 < 0.2 ms) and is done synchronously.
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

/** A name reserved in an output folder by {@link reserveName}. */
export interface Reservation {
  /** The relative path reserved. */
  name: string
  /**
   * The reservation is a hard link to the source file itself (same device and inode): the move after the
   * commit is then only the unlink of the inbox name. Otherwise it is a small file holding the token, which
   * the move renames the source over.
   */
  linked: boolean
}

/** link(2) refused for a reason that holds for the whole folder pair: reserve with a token file instead. */
const NO_LINK_CODES = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS'])

function sameFile(a: { dev: number; ino: number }, b: { dev: number; ino: number }): boolean {
  return a.dev === b.dev && a.ino === b.ino
}

/**
 * Reserve a free name for `relPath` below `destRoot`: `name`, else `name~1`, … (see {@link candidateName}).
 * A name collision never replaces another file: every way of taking a name fails atomically if it exists.
 *
 * With `src` (the file to be moved there and its lstat), the reservation is a hard link to that file: one
 * directory entry, no new inode (creating an inode waits on the file system's journal, which LevelDB's fsyncs
 * keep busy: ~0.5–1.5 ms each, against ~20 µs for a link). Without `src`, or where links are not possible
 * (another file system), it is ONE exclusive create holding `token` (an empty leftover of a kill between the
 * create and the write is not a reservation and is never reused).
 *
 * A reservation that is already ours is reused, so the name a signed record carries stays the one the file
 * gets: a link to the same file (same device and inode), or a file holding the same token (an earlier run
 * for the same file, killed before the move).
 */
export async function reserveName(
  destRoot: string,
  relPath: string,
  token: string,
  made?: Set<string>,
  src?: { path: string; st: { dev: number; ino: number } },
): Promise<Reservation> {
  await mkdirOnce(dirname(join(destRoot, boundedPath(relPath))), made)
  const want = Buffer.from(token)
  let linking = src !== undefined
  for (let n = 0; ; n++) {
    const candidate = candidateName(relPath, n)
    const dest = join(destRoot, candidate)
    try {
      if (linking && src) {
        // Synchronous: a link is a few µs, an fs.promises round trip waits behind LevelDB's fsyncs in the pool.
        linkSync(src.path, dest)
        return { name: candidate, linked: true }
      }
      await createHolding(dest, want)
      return { name: candidate, linked: false }
    } catch (err) {
      const code = errCode(err)
      if (linking && code !== undefined && NO_LINK_CODES.has(code)) {
        linking = false
        n--
        continue
      }
      if (code === 'ENOENT') {
        // The source is gone (the caller sees that), or the folder was removed since we made it.
        if (src && linking && !existsNow(src.path)) throw err
        if (made?.has(dirname(dest))) {
          made.delete(dirname(dest))
          await mkdirOnce(dirname(dest), made)
          n--
          continue
        }
        throw err
      }
      if (code !== 'EEXIST') throw err
    }
    if (src && isLinkTo(dest, src.st)) return { name: candidate, linked: true }
    if (await isReservation(dest, want)) return { name: candidate, linked: false }
  }
}

function existsNow(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}

function isLinkTo(path: string, st: { dev: number; ino: number }): boolean {
  try {
    const now = lstatSync(path, { throwIfNoEntry: false })
    return now !== undefined && sameFile(now, st)
  } catch {
    return false
  }
}

/** Create `path` exclusively and write `data` into it (one directory operation: the create). */
async function createHolding(path: string, data: Buffer): Promise<void> {
  const fd = await openAsync(path, 'wx')
  try {
    // A few dozen bytes into the page cache: synchronous, no second and third round trip through the pool.
    writeAllSync(fd, data)
  } catch (err) {
    closeSync(fd)
    await unlink(path).catch(() => {})
    throw err
  }
  closeSync(fd)
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

/**
 * Move `src` (lstat `st` when it was read) onto its reservation `<destRoot>/<r.name>`. A linked reservation
 * already is the file: only the inbox name is removed, and only while it still names that file (a newer file
 * renamed onto the inbox name is left for its own ingest). A token reservation is replaced by a rename.
 */
export async function moveOnto(
  src: string,
  destRoot: string,
  r: Reservation | string,
  st?: { dev: number; ino: number },
): Promise<'moved' | 'replaced'> {
  const name = typeof r === 'string' ? r : r.name
  const dest = join(destRoot, name)
  if (typeof r !== 'string' && r.linked && st !== undefined) {
    if (isLinkTo(dest, st)) {
      // Checked and unlinked back to back, synchronously: no window for a writer's rename between the two.
      const now = lstatSync(src) // ENOENT: gone already (the caller treats it so)
      if (!sameFile(now, st)) return 'replaced'
      unlinkSync(src)
      return 'moved'
    }
    // Our link was removed or replaced behind our back: put the file there the ordinary way.
  }
  await moveFile(src, dest)
  return 'moved'
}

/** Drop a reservation made by {@link reserveName} (only if it still is ours). */
export async function releaseName(destRoot: string, r: Reservation, token: string, st?: { dev: number; ino: number }): Promise<void> {
  const path = join(destRoot, r.name)
  const ours = r.linked ? st !== undefined && isLinkTo(path, st) : await isReservation(path, Buffer.from(token))
  if (ours) await unlink(path).catch(() => {})
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

function writeAllSync(fd: number, data: Uint8Array): void {
  let off = 0
  while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off)
}

async function writeFileAtomicIn(path: string, data: string | Uint8Array, made?: Set<string>): Promise<void> {
  await mkdirOnce(dirname(path), made)
  // A short dot-name: `<name>.tmp` would not fit beside a 255-byte name.
  const tmp = join(dirname(path), `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    // One pool round trip for the create (an inode: it may wait on the journal), the write and close of a
    // small receipt synchronously (page cache), then the rename: 2 round trips instead of 4 (open, write,
    // close, rename), each queued behind LevelDB's fsyncs in libuv's pool.
    const fd = await openAsync(tmp, 'wx')
    try {
      writeAllSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
    } finally {
      closeSync(fd)
    }
    // Synchronous: a rename to a new name is ~30 µs (p99 < 0.3 ms), and the async call's hand-off to the
    // pool cost the main thread ~65 µs per receipt in a profile of a 20,000-file burst.
    renameSync(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}
