// Shared by every package's errors.test.ts: checks that thrown errors carry a code of their package's union,
// and that the union and the source agree (no code thrown that is not listed, none listed that is unused).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'vitest'

/** The error `fn` throws (or its promise rejects with); fails the test when it does not throw. */
export async function thrown(fn: () => unknown): Promise<Error & { code?: unknown; meta?: unknown }> {
  try {
    await fn()
  } catch (err) {
    expect(err).toBeInstanceOf(Error)
    return err as Error & { code?: unknown }
  }
  throw new Error('expected an error, none was thrown')
}

/** Assert `err` has a code of `codes` (and, when given, the stable class name `name`); returns the code. */
export function expectCode(err: Error & { code?: unknown }, codes: readonly string[], name?: string): string {
  expect(codes, `${err.name}: ${err.message}`).toContain(err.code)
  if (name !== undefined) expect(err.name).toBe(name)
  return err.code as string
}

function sources(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...sources(p))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

/**
 * Compare a package's code union with its sources (`srcDir`, errors.ts excluded): every code is used
 * somewhere, and every code literal handed to one of `constructors` (a name: its first argument, e.g.
 * `new ApiError('ERR_…'`; or a regex prefix ending just before the code) is listed.
 * `fixed`: codes a class sets itself in errors.ts (e.g. CodecError's ERR_CODEC) or another package raises.
 */
export function expectUnionMatchesSource(
  srcDir: string,
  codes: readonly string[],
  constructors: string[],
  fixed: readonly string[] = [],
): void {
  for (const c of fixed) expect(codes).toContain(c)
  const text = sources(srcDir)
    .filter((f) => !f.endsWith('errors.ts'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n')
  const unused = codes.filter((c) => !fixed.includes(c) && !text.includes(`'${c}'`))
  expect(unused, 'codes in the union that no source uses').toEqual([])
  const thrownCodes = new Set<string>()
  for (const ctor of constructors) {
    // A bare name means its first argument; a pattern (e.g. `codedError\\(.*?,`) says where the code is.
    const prefix = /^\w+$/.test(ctor) ? `${ctor}\\(` : ctor
    const re = new RegExp(`\\b${prefix}\\s*'([A-Z][A-Z0-9_]+)'`, 'g')
    for (const m of text.matchAll(re)) thrownCodes.add(m[1])
  }
  expect(thrownCodes.size, `no ${constructors.join('/')} call found: the scan is broken`).toBeGreaterThan(0)
  expect([...thrownCodes].filter((c) => !codes.includes(c)), 'codes thrown but not in the union').toEqual([])
}
