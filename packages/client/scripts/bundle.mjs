#!/usr/bin/env node
// Builds @profichain/client's browser bundle: dist/profichain-client.browser.js, one self-contained script
// (core and its pure-JS crypto backend included, no Node built-ins) that defines `globalThis.ProfichainClient`
// (createRecord, postRecords, keyPairFromSeed, toHex, fromHex, utf8, txId, verifyChainpointReceipt, the client
// errors). Run after `tsc -b`. Tested in Chromium by test/client-browser.test.ts.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { browserBuildOptions } from '../../../scripts/browser/core-for-browser.mjs'

const here = join(dirname(fileURLToPath(import.meta.url)), '..')

await build({
  ...browserBuildOptions,
  entryPoints: [join(here, 'scripts/browser-entry.mjs')],
  outfile: join(here, 'dist/profichain-client.browser.js'),
  format: 'iife',
  globalName: 'ProfichainClient',
})
