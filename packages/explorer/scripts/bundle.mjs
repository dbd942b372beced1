#!/usr/bin/env node
// Builds the explorer for the browser: src/app/main.ts (+ @profichain/core with its pure-JS crypto backend)
// into dist/public/app.js, the static files of public/ beside it, and a copy of the packaged GraphiQL
// (@graphql-yoga/graphiql's self-contained bundle) into dist/graphiql. No asset is ever fetched from a CDN.
// Core's Node-only imports are stubbed and Buffer shimmed (scripts/browser/core-for-browser.mjs, shared with the
// client's browser bundle). Run after `tsc -b` (core's dist is bundled). Fast: one esbuild pass and a few file copies.
import { copyFile, mkdir, readdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { browserBuildOptions } from '../../../scripts/browser/core-for-browser.mjs'

const here = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(here, 'dist')
const require = createRequire(import.meta.url)

await mkdir(join(out, 'public'), { recursive: true })
await build({
  ...browserBuildOptions,
  entryPoints: [join(here, 'src/app/main.ts')],
  outfile: join(out, 'public/app.js'),
  format: 'esm',
})
for (const f of await readdir(join(here, 'public'))) await copyFile(join(here, 'public', f), join(out, 'public', f))

const gq = join(dirname(require.resolve('@graphql-yoga/graphiql/package.json')), 'dist')
await mkdir(join(out, 'graphiql/monacoeditorwork'), { recursive: true })
for (const f of ['yoga-graphiql.umd.js', 'graphiql.css', 'monacoeditorwork/editor.worker.bundle.js', 'monacoeditorwork/json.worker.bundle.js', 'monacoeditorwork/graphql.worker..bundle.js'])
  await copyFile(join(gq, f), join(out, 'graphiql', f))
