import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Where the built explorer lives: `public` holds index.html, app.js (the bundle) and style.css; `graphiql`
 * the GraphiQL bundle, stylesheet and editor workers copied from @graphql-yoga/graphiql at build time.
 * Both are produced by `node packages/explorer/scripts/bundle.mjs` (run by the root prepare/build/test).
 */
export interface ExplorerAssets {
  publicDir: string
  graphiqlDir: string
  /** Whether the bundle exists (false when only `tsc -b` ran). */
  built: boolean
}

export function explorerAssets(): ExplorerAssets {
  const dist = dirname(fileURLToPath(import.meta.url))
  const publicDir = join(dist, 'public')
  const graphiqlDir = join(dist, 'graphiql')
  return { publicDir, graphiqlDir, built: existsSync(join(publicDir, 'app.js')) }
}
