import { randomBytes } from 'node:crypto'
import { copyFile, lstat, mkdir, rename, unlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

export { errCode }

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path)
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

/**
 * Move `src` to `<destRoot>/<relPath>`, creating folders; when that name is taken, `name~1.ext`,
 * `name~2.ext`, … Returns the relative path used. Falls back to copy + unlink across filesystems.
 */
export async function moveInto(src: string, destRoot: string, relPath: string): Promise<string> {
  await mkdir(dirname(join(destRoot, relPath)), { recursive: true })
  for (let n = 0; ; n++) {
    const candidate = n === 0 ? relPath : suffixed(relPath, n)
    const dest = join(destRoot, candidate)
    if (await exists(dest)) continue
    try {
      await rename(src, dest)
    } catch (err) {
      if (errCode(err) !== 'EXDEV') throw err
      await copyFile(src, dest)
      await unlink(src)
    }
    return candidate
  }
}

/** Write a file atomically: temp file in the same folder, then rename over the target. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await writeFile(tmp, data)
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}
