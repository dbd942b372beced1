import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ServerResponse } from 'node:http'
import { explorerAssets } from '@profichain/explorer'

/**
 * The explorer single-page app (/explorer, DESIGN §15, docs/explorer.md) and GraphiQL's scripts, both served
 * from the files @profichain/explorer builds: no page of the node loads anything from another host.
 */

type Send = (res: ServerResponse, status: number, type: string, body: string | Uint8Array, headers?: Record<string, string>) => void

const EXPLORER_FILES: Record<string, [file: string, type: string]> = {
  '/explorer': ['index.html', 'text/html; charset=utf-8'],
  '/explorer/': ['index.html', 'text/html; charset=utf-8'],
  '/explorer/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/explorer/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/explorer/style.css': ['style.css', 'text/css; charset=utf-8'],
}
const GRAPHIQL_FILES: Record<string, [file: string, type: string]> = {
  '/graphiql/yoga-graphiql.umd.js': ['yoga-graphiql.umd.js', 'text/javascript; charset=utf-8'],
  '/graphiql/graphiql.css': ['graphiql.css', 'text/css; charset=utf-8'],
  '/graphiql/monacoeditorwork/editor.worker.bundle.js': ['monacoeditorwork/editor.worker.bundle.js', 'text/javascript; charset=utf-8'],
  '/graphiql/monacoeditorwork/json.worker.bundle.js': ['monacoeditorwork/json.worker.bundle.js', 'text/javascript; charset=utf-8'],
  '/graphiql/monacoeditorwork/graphql.worker..bundle.js': ['monacoeditorwork/graphql.worker..bundle.js', 'text/javascript; charset=utf-8'],
}

/** The explorer is for nodes that keep the chain's records (DESIGN §15). */
const EXPLORER_NODE_TYPES = new Set(['archive', 'full'])

/** The one route of the explorer that carries chain data, behind the API token like GraphQL. */
export const EXPLORER_GENESIS_PATH = '/explorer/genesis.json'

// Only same-origin scripts, styles and requests: the page works offline and cannot leak what it shows.
const EXPLORER_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

/** Static files, public like the GraphiQL page: a browser cannot attach a bearer token to a page load. */
export function isExplorerAsset(path: string): boolean {
  return path in EXPLORER_FILES || path in GRAPHIQL_FILES
}

const cache = new Map<string, Uint8Array>()

async function asset(dir: string, file: string): Promise<Uint8Array | undefined> {
  const p = join(dir, file)
  let b = cache.get(p)
  if (!b) {
    b = await readFile(p).catch(() => undefined)
    if (b) cache.set(p, b) // a fixed, small set of files (about 9 MB with GraphiQL)
  }
  return b
}

function notBuilt(res: ServerResponse, send: Send): void {
  send(res, 503, 'text/plain; charset=utf-8', 'the explorer is not built: run `npm run build` (it bundles packages/explorer)\n')
}

export async function serveExplorerAsset(path: string, method: string, nodeType: string, res: ServerResponse, send: Send): Promise<void> {
  if (method !== 'GET' && method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', `${method} is not allowed on ${path}\n`, { allow: 'GET, HEAD' })
  const assets = explorerAssets()
  const explorer = EXPLORER_FILES[path]
  if (explorer && !EXPLORER_NODE_TYPES.has(nodeType))
    return send(res, 404, 'text/plain; charset=utf-8', `the explorer is served by archive and full nodes; this node is a ${nodeType} node\n`)
  const [file, type] = explorer ?? GRAPHIQL_FILES[path]
  const body = await asset(explorer ? assets.publicDir : assets.graphiqlDir, file)
  if (!body) return notBuilt(res, send)
  const headers: Record<string, string> = { 'cache-control': 'no-cache' }
  if (type.startsWith('text/html')) headers['content-security-policy'] = EXPLORER_CSP
  if (method === 'HEAD') {
    res.writeHead(200, { 'content-type': type, 'content-length': String(body.byteLength), 'x-content-type-options': 'nosniff', ...headers })
    res.end()
    return
  }
  send(res, 200, type, body, headers)
}

/** The canonical genesis (its SHA-256 is block 0's Merkle root), for the explorer's in-browser verification. */
export function serveGenesis(method: string, genesis: (() => string) | undefined, res: ServerResponse, send: Send): void {
  if (method !== 'GET' && method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', `${method} is not allowed\n`, { allow: 'GET, HEAD' })
  if (!genesis) return send(res, 404, 'text/plain; charset=utf-8', 'this node does not serve its genesis\n')
  send(res, 200, 'application/json; charset=utf-8', genesis(), { 'cache-control': 'no-cache' })
}

/**
 * GraphiQL's page with graphql-yoga's own packaged GraphiQL (@graphql-yoga/graphiql) from /graphiql/, not unpkg.
 * The explorer's API token (sessionStorage of this tab, docs/explorer.md) pre-fills GraphiQL's headers.
 */
export function renderLocalGraphiQL(opts: { title?: string }): string {
  const title = (opts.title ?? 'GraphiQL').replace(/[<>&"]/g, '')
  // The options go inside a <script>: escape '<' so no value can close it.
  const json = JSON.stringify(opts).replace(/</g, '\\u003c')
  return `<!doctype html><html lang=en><head><meta charset=utf-8><title>${title}</title><link rel=stylesheet href=/graphiql/graphiql.css></head><body id=body class=no-focus-outline><noscript>You need to enable JavaScript to run this app.</noscript><div id=root>Loading ${title}...</div><script>function prepareBlob(r){const o=new Blob([r],{type:"application/javascript"});return URL.createObjectURL(o)}const workers={},workerUrls={editorWorkerService:"/graphiql/monacoeditorwork/editor.worker.bundle.js",json:"/graphiql/monacoeditorwork/json.worker.bundle.js",graphql:"/graphiql/monacoeditorwork/graphql.worker..bundle.js"};function prepareWorkers(){return Promise.all(Object.entries(workerUrls).map(async([r,o])=>{const e=await fetch(o),t=await e.text();workers[r]=prepareBlob(t)}))}self.MonacoEnvironment={globalAPI:!1,getWorkerUrl:function(r,o){return workers[o]}}</script><script src=/graphiql/yoga-graphiql.umd.js></script><script>const opts=${json};try{const t=sessionStorage.getItem('profichain.apiToken');if(t)opts.headers=JSON.stringify({Authorization:'Bearer '+t})}catch(e){}prepareWorkers().finally(()=>{YogaGraphiQL.renderYogaGraphiQL(root,opts)})</script></body></html>`
}
