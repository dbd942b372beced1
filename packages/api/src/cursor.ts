import { badInput } from './errors.js'

/** Opaque page cursors: base64url of "<tag>:<n>[:<n>]". Opaque so the scheme may change. */
export function encodeCursor(tag: string, ...nums: number[]): string {
  return Buffer.from(`${tag}:${nums.join(':')}`).toString('base64url')
}

export function decodeCursor(cursor: string, tag: string, count: number): number[] {
  const text = cursor.length <= 64 ? Buffer.from(cursor, 'base64url').toString('utf8') : ''
  const parts = text.split(':')
  if (parts[0] !== tag || parts.length !== count + 1)
    throw badInput(`not a cursor of this list: ${cursor.slice(0, 64)}`, { argument: 'after' })
  const nums = parts.slice(1).map((p) => (/^\d{1,15}$/.test(p) ? Number(p) : Number.NaN))
  if (nums.some((n) => !Number.isSafeInteger(n)))
    throw badInput(`not a cursor of this list: ${cursor.slice(0, 64)}`, { argument: 'after' })
  return nums
}
