#!/usr/bin/env node
// Dependency hygiene for packages/*: every package a source file imports is declared, every declared
// dependency is imported, and tsconfig.json references exactly the @profichain packages src imports.
// src/ and bin/ imports must be `dependencies`; test/ imports may also be `devDependencies` (or the
// root's devDependencies, which every workspace sees). Exits non-zero and lists each problem.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { builtinModules } from 'node:module'
import { fileURLToPath } from 'node:url'

const root = join(fileURLToPath(import.meta.url), '..', '..')
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const rootDev = new Set(Object.keys(rootPkg.devDependencies ?? {}))
const builtins = new Set(builtinModules)

/** Every .ts/.js/.mjs file under dir (none if dir is missing). */
function files (dir) {
  if (!existsSync(dir)) return []
  const out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) {
      if (name !== 'node_modules' && name !== 'dist' && name !== 'fixtures') out.push(...files(p))
    } else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) {
      out.push(p)
    }
  }
  return out
}

// Static and dynamic specifiers: `from 'x'`, `import 'x'`, `import('x')`, `require('x')`. Comments are
// stripped first so an example in a doc comment is not an import.
const IMPORT = /(?:^\s*(?:import|export)\b[^;'"`()]*?\bfrom\s*|^\s*import\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/gm

/** The package names a file imports (relative paths and node builtins left out). */
function importsOf (file) {
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"])\/\/.*$/gm, '$1')
  const names = new Set()
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1]
    if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || builtins.has(spec)) continue
    const parts = spec.split('/')
    names.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0])
  }
  return names
}

function collect (dirs) {
  const used = new Map() // name -> first file that imports it
  for (const d of dirs) {
    for (const f of files(d)) {
      for (const n of importsOf(f)) if (!used.has(n)) used.set(n, relative(root, f))
    }
  }
  return used
}

const problems = []
const pkgsDir = join(root, 'packages')
for (const dir of readdirSync(pkgsDir).sort()) {
  const base = join(pkgsDir, dir)
  if (!existsSync(join(base, 'package.json'))) continue
  const pkg = JSON.parse(readFileSync(join(base, 'package.json'), 'utf8'))
  const deps = new Set(Object.keys(pkg.dependencies ?? {}))
  const dev = new Set(Object.keys(pkg.devDependencies ?? {}))
  const srcUsed = collect([join(base, 'src'), join(base, 'bin')])
  const testUsed = collect([join(base, 'test')])
  srcUsed.delete(pkg.name)
  testUsed.delete(pkg.name)

  for (const [n, f] of srcUsed) {
    if (!deps.has(n)) problems.push(`${pkg.name}: ${f} imports ${n}, not in dependencies`)
  }
  for (const [n, f] of testUsed) {
    if (!deps.has(n) && !dev.has(n) && !rootDev.has(n)) {
      problems.push(`${pkg.name}: ${f} imports ${n}, not in dependencies or devDependencies`)
    }
  }
  for (const n of deps) {
    if (!srcUsed.has(n)) problems.push(`${pkg.name}: dependency ${n} is never imported by src/ or bin/`)
  }
  for (const n of dev) {
    if (!testUsed.has(n) && !srcUsed.has(n)) problems.push(`${pkg.name}: devDependency ${n} is never imported`)
  }

  // tsconfig references: exactly the workspace packages src imports (tests are not built by tsc -b).
  const tsconfig = JSON.parse(readFileSync(join(base, 'tsconfig.json'), 'utf8'))
  const refs = new Set((tsconfig.references ?? []).map((r) => '@profichain/' + r.path.replace(/^\.\.\//, '')))
  const wanted = new Set([...srcUsed.keys()].filter((n) => n.startsWith('@profichain/')))
  for (const n of wanted) if (!refs.has(n)) problems.push(`${pkg.name}: tsconfig.json lacks a reference to ${n}`)
  for (const n of refs) if (!wanted.has(n)) problems.push(`${pkg.name}: tsconfig.json references ${n}, never imported`)
}

if (problems.length > 0) {
  for (const p of problems) console.error(p)
  console.error(`check-deps: ${problems.length} problem(s)`)
  process.exit(1)
}
console.log('check-deps: every package declares exactly what it imports')
