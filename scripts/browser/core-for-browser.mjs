// What @profichain/core needs to run in a browser bundle (esbuild), shared by the explorer's and the client's
// bundles: the few Buffer methods core uses (buffer-shim.mjs, injected), and its Node-only imports stubbed.
// Core's Node-only modules (node:crypto backend, key files, tier-2 crypto) are not used in the browser (the
// bundle installs the noble backend): each name becomes a function that throws if called, except `hash`,
// which core's node backend calls while its modules load (merkle's EMPTY_ROOT): SHA-256 by @noble/hashes. A name
// core starts importing that is not listed here fails the build ("No matching export"): add it.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const CORE = join(here, '..', '..', 'packages', 'core')

/** esbuild `inject`: the Buffer shim. */
export const BUFFER_SHIM = join(here, 'buffer-shim.mjs')

const NODE_NAMES = {
  'node:crypto': ['createPrivateKey', 'createPublicKey', 'generateKeyPairSync', 'hash', 'sign', 'verify', 'createCipheriv', 'createDecipheriv', 'createHmac', 'hkdfSync', 'randomBytes'],
  'node:fs/promises': ['chmod', 'readFile', 'stat', 'writeFile'],
  'node:events': ['EventEmitter'],
}

/** esbuild plugin: every `node:*` import becomes the stubs above. */
export const nodeStub = {
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
      resolveDir: CORE,
    }))
  },
}

/** The esbuild options every browser bundle of core shares. */
export const browserBuildOptions = {
  bundle: true,
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  inject: [BUFFER_SHIM],
  plugins: [nodeStub],
  logLevel: 'warning',
}
