#!/usr/bin/env node
// Builds the explorer for the browser: src/app/main.ts (+ @profichain/core with its pure-JS crypto backend)
// into dist/public/app.js, the static files of public/ beside it, and a copy of the packaged GraphiQL
// (@graphql-yoga/graphiql's self-contained bundle) into dist/graphiql. No asset is ever fetched from a CDN.
// Run after `tsc -b` (core's dist is bundled). Fast: one esbuild pass and a few file copies.
import { copyFile, mkdir, readdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(here, 'dist')
const require = createRequire(import.meta.url)

// Core's Node-only modules (node:crypto backend, key files, tier-2 crypto) are not used in the browser (the
// app installs the noble backend): each name becomes a function that throws if called, except `hash`,
// which core's node backend calls while its modules load (merkle's EMPTY_ROOT): SHA-256 by @noble/hashes. A name
// core starts importing that is not listed here fails the build ("No matching export"): add it.
const NODE_NAMES = {
  'node:crypto': ['createPrivateKey', 'createPublicKey', 'generateKeyPairSync', 'hash', 'sign', 'verify', 'createCipheriv', 'createDecipheriv', 'createHmac', 'hkdfSync', 'randomBytes'],
  'node:fs/promises': ['chmod', 'readFile', 'stat', 'writeFile'],
  'node:events': ['EventEmitter'],
}
const nodeStub = {
  name: 'node-stub',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'node-stub' }))
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (a) => ({
      contents: (NODE_NAMES[a.path] ?? [])
        .map((n) =>
          a.path === 'node:crypto' && n === 'hash'
            ? "import { sha256 } from '@noble/hashes/sha2.js'\nexport function hash(alg, data) { if (alg !== 'sha256') throw new Error('only sha256 in the browser'); return sha256(data) }"
            : `export function ${n}() { throw new Error(${JSON.stringify(`${a.path} ${n} is not available in the browser`)}) }`,
        )
        .join('\n'),
      loader: 'js',
      resolveDir: join(here, '..', 'core'),
    }))
  },
}

await mkdir(join(out, 'public'), { recursive: true })
await build({
  entryPoints: [join(here, 'src/app/main.ts')],
  outfile: join(out, 'public/app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  inject: [join(here, 'scripts/buffer-shim.mjs')],
  plugins: [nodeStub],
  logLevel: 'warning',
})
for (const f of await readdir(join(here, 'public'))) await copyFile(join(here, 'public', f), join(out, 'public', f))

const gq = join(dirname(require.resolve('@graphql-yoga/graphiql/package.json')), 'dist')
await mkdir(join(out, 'graphiql/monacoeditorwork'), { recursive: true })
for (const f of ['yoga-graphiql.umd.js', 'graphiql.css', 'monacoeditorwork/editor.worker.bundle.js', 'monacoeditorwork/json.worker.bundle.js', 'monacoeditorwork/graphql.worker..bundle.js'])
  await copyFile(join(gq, f), join(out, 'graphiql', f))
