import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { isHex, toHex } from '@profichain/core'
import { parse } from 'graphql'
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga'
import { Registry } from 'prom-client'
import { type BudgetLimits, WorkBudget } from './budget.js'
import { isCheckpointPath, serveCheckpointRoute } from './checkpoint.js'
import { ApiError, type ApiResponseCode, createGraphQLError } from './errors.js'
import { EXPLORER_GENESIS_PATH, isExplorerAsset, renderLocalGraphiQL, serveExplorerAsset, serveGenesis } from './explorer.js'
import { checkQueryLimits, type QueryLimits } from './limits.js'
import { ApiMetrics } from './metrics.js'
import { handleRecords } from './records.js'
import { type ApiContextValue, buildSchema, type ResolvedOptions } from './schema.js'
import type { ApiAddress, ApiComponents, ApiInit, ApiServer, NodeHealth } from './types.js'

const KiB = 1024
const MIN_TOKEN_CHARS = 16

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
const LOOPBACK_V4 = new RegExp(`^(::ffff:)?127\\.${OCTET}\\.${OCTET}\\.${OCTET}$`)

/**
 * Whether a bind address is loopback, the only kind served without a token: `localhost`, any address of
 * 127.0.0.0/8 (also IPv4-mapped, `::ffff:127.x.y.z`) and `::1`, case-insensitive, with or without IPv6
 * brackets. The one definition of "loopback" for the API and for config validation.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  return h === 'localhost' || h === '::1' || LOOPBACK_V4.test(h)
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

type Route = 'graphql' | 'graphiql' | 'healthz' | 'metrics' | 'anchor' | 'payload' | 'records' | 'checkpoint' | 'explorer' | 'other'

const JSON_TYPE = 'application/json; charset=utf-8'

/** The HTTP server: routing, auth, CORS and size limits in front of graphql-yoga and the REST routes. */
export class ApiHttpServer implements ApiServer {
  private readonly host: string
  private readonly port: number
  private readonly tokenDigest?: Buffer
  private readonly cors: Set<string>
  private readonly maxBodyBytes: number
  private readonly maxSubscriptions: number
  private readonly limits: QueryLimits
  private readonly maxTokens: number
  private readonly metrics: ApiMetrics
  private readonly yoga: YogaServerInstance<object, ApiContextValue>
  private readonly shutdown = new AbortController()
  private readonly streams = new Set<{ res: ServerResponse; cancel: () => void }>()
  private server?: Server
  private bound?: ApiAddress
  private stopping?: Promise<void>

  constructor(
    init: ApiInit,
    private readonly components: ApiComponents,
  ) {
    this.host = init.host ?? '127.0.0.1'
    this.port = init.port ?? 8545
    if (!Number.isInteger(this.port) || this.port < 0 || this.port > 65535)
      throw new ApiError('ERR_API_CONFIG', `api port ${init.port} is not in 0..65535`, { option: 'port' })
    if (init.token !== undefined && init.token.length < MIN_TOKEN_CHARS) {
      throw new ApiError('ERR_API_CONFIG', `api token must be at least ${MIN_TOKEN_CHARS} characters`, { option: 'token' })
    }
    if (!isLoopbackHost(this.host) && init.token === undefined) {
      throw new ApiError(
        'ERR_API_NO_TOKEN',
        `refusing to serve the API on ${this.host}, which is not loopback, without a bearer token (set api.token)`,
        {
          host: this.host,
        },
      )
    }
    this.tokenDigest = init.token !== undefined ? digest(init.token) : undefined
    this.cors = new Set(init.cors ?? [])
    this.maxBodyBytes = init.maxBodyBytes ?? 64 * KiB
    this.maxSubscriptions = init.maxSubscriptions ?? 64
    // Each open subscription listens on the node's emitter: raise its cap so Node does not warn of a leak.
    const max = components.events.getMaxListeners()
    if (max !== 0) components.events.setMaxListeners(max + this.maxSubscriptions)
    this.maxTokens = init.maxTokens ?? 5000
    const maxPage = 100
    const maxScanBlocks = init.maxScanBlocks ?? 2000
    this.limits = {
      maxDepth: init.maxDepth ?? 8,
      maxComplexity: init.maxComplexity ?? 5000,
      maxAliases: init.maxAliases ?? 30,
      maxDirectives: init.maxDirectives ?? 50,
      defaultPage: 20,
      maxPage,
      txIdsPerBlock: maxPage,
      // One unindexed scan may read maxScanBlocks blocks: 250 at the default, so 30 aliased scans are refused.
      scanCost: Math.ceil(maxScanBlocks / 8),
    }
    const opts: ResolvedOptions = {
      payloadCapBytes: init.payloadCapBytes ?? 64 * KiB,
      maxPage,
      maxScanBlocks,
      maxScanTxs: init.maxScanTxs ?? 200_000,
    }
    const budgetLimits: BudgetLimits = {
      maxWork: init.maxWork ?? 1_000_000,
      maxResultBytes: init.maxResultBytes ?? 16 * 1024 * KiB,
      maxQueryMs: init.maxQueryMs ?? 10_000,
    }
    for (const [k, v] of Object.entries({ ...this.limits, ...budgetLimits }))
      if (!Number.isSafeInteger(v) || v < 0)
        throw new ApiError('ERR_API_CONFIG', `api ${k} must be a non-negative integer, got ${v}`, { option: k })
    this.metrics = new ApiMetrics(components.metrics ?? new Registry())
    const limits = this.limits
    const maxTokens = this.maxTokens
    const refused = this.metrics.refused
    const shutdown = this.shutdown.signal
    const limitsPlugin: Plugin = {
      // Bound parsing itself: the body cap bounds bytes, this bounds tokens.
      onParse({ setParseFn }) {
        setParseFn((source, options) => {
          try {
            return parse(source, { ...options, maxTokens })
          } catch (err) {
            const e = err as Error & { locations?: unknown }
            // Re-create syntax errors on yoga's graphql instance so they answer 400, not a masked 500.
            if (e.name === 'GraphQLError')
              throw createGraphQLError(e.message, {
                extensions: { code: 'GRAPHQL_PARSE_FAILED' satisfies ApiResponseCode, http: { status: 400 } },
              })
            throw err
          }
        })
      },
      // Limits run before graphql-js validation, whose overlap check is quadratic in hostile documents.
      onValidate({ params, validateFn, setResult }) {
        const errors = checkQueryLimits(params.schema, params.documentAST, limits, (s, d, rules) =>
          validateFn(s, d, rules),
        )
        if (errors.length > 0) {
          refused.inc({ reason: 'query_limits' })
          setResult(errors)
        }
      },
    }
    this.yoga = createYoga<object, ApiContextValue>({
      schema: buildSchema(),
      graphqlEndpoint: '/graphql',
      graphiql: { title: 'Profichain GraphQL', subscriptionsProtocol: 'SSE' },
      renderGraphiQL: renderLocalGraphiQL, // GraphiQL's scripts from this node, not a CDN (explorer.ts)
      landingPage: false,
      cors: false,
      batching: false,
      logging: false,
      maskedErrors: true,
      context: () => ({
        chain: components.tree,
        components,
        opts,
        shutdown,
        budget: new WorkBudget(budgetLimits, (kind) => refused.inc({ reason: `budget_${kind}` })),
        writable: this.tokenDigest !== undefined,
      }),
      plugins: [limitsPlugin],
    })
  }

  address(): ApiAddress | undefined {
    return this.bound
  }

  async start(): Promise<ApiAddress> {
    if (this.bound) return this.bound
    if (this.stopping) throw new ApiError('ERR_API_STOPPED', 'the API server was stopped; create a new one')
    const server = createServer(
      { maxHeaderSize: 16 * KiB, requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 },
      (req, res) => {
        this.handle(req, res).catch((err) => {
          // Only bugs land here; answer 500 once, never crash the node.
          if (!res.headersSent)
            this.send(
              res,
              500,
              JSON_TYPE,
              JSON.stringify({
                errors: [{ message: 'internal error', extensions: { code: 'INTERNAL_SERVER_ERROR' satisfies ApiResponseCode } }],
              }),
            )
          else res.destroy(err as Error)
        })
      },
    )
    this.server = server
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          new ApiError(
            err.code === 'EADDRINUSE' ? 'ERR_API_ADDR_IN_USE' : 'ERR_API_LISTEN',
            err.code === 'EADDRINUSE'
              ? `port ${this.port} on ${this.host} is already in use`
              : `cannot listen on ${this.host}:${this.port}: ${err.message}`,
            { host: this.host, port: this.port },
            { cause: err },
          ),
        )
      }
      server.once('error', onError)
      server.listen(this.port, this.host, () => {
        server.off('error', onError)
        resolve()
      })
    })
    const a = server.address() as AddressInfo
    const hostPart = a.family === 'IPv6' || a.address.includes(':') ? `[${a.address}]` : a.address
    this.bound = { host: a.address, port: a.port, url: `http://${hostPart}:${a.port}` }
    return this.bound
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // Aborting ends every subscription iterator, so yoga completes each SSE stream itself.
      this.shutdown.abort()
      const deadline = Date.now() + 1000
      while (this.streams.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      for (const s of this.streams) s.cancel()
      this.streams.clear()
      const server = this.server
      if (!server) return
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        // Whatever is still open after in-flight answers finish is cut (slow clients must not block a stop).
        setTimeout(() => server.closeAllConnections(), 2000).unref()
      })
      this.bound = undefined
    })()
    return this.stopping
  }

  private send(
    res: ServerResponse,
    status: number,
    type: string,
    body: string | Uint8Array,
    headers: Record<string, string> = {},
  ): void {
    res.writeHead(status, {
      'content-type': type,
      'content-length': String(Buffer.byteLength(body)),
      'x-content-type-options': 'nosniff',
      ...headers,
    })
    res.end(body)
  }

  private sendError(
    res: ServerResponse,
    status: number,
    code: ApiResponseCode,
    message: string,
    headers: Record<string, string> = {},
  ): void {
    this.send(
      res,
      status,
      JSON_TYPE,
      JSON.stringify({ errors: [{ message, extensions: { code } }] }),
      headers,
    )
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = process.hrtime.bigint()
    let route: Route = 'other'
    res.on('finish', () => {
      this.metrics.requests.inc({ route, status: String(res.statusCode) })
      this.metrics.duration.observe({ route }, Number(process.hrtime.bigint() - t0) / 1e9)
    })
    const rawUrl = req.url ?? '/'
    if (rawUrl.length > this.maxBodyBytes) {
      this.metrics.refused.inc({ reason: 'body_size' })
      return this.sendError(res, 414, 'BAD_USER_INPUT', `URL longer than ${this.maxBodyBytes} bytes`)
    }
    let url: URL
    try {
      url = new URL(rawUrl, 'http://api.invalid')
    } catch {
      return this.sendError(res, 400, 'BAD_USER_INPUT', 'malformed request URL')
    }
    const path = url.pathname
    const method = req.method ?? 'GET'

    if (!this.applyCors(req, res)) return this.sendError(res, 403, 'FORBIDDEN', 'origin not allowed')
    if (method === 'OPTIONS') {
      res.writeHead(204)
      res.end()
      return
    }

    if (path === '/healthz') {
      route = 'healthz'
      return this.healthz(res)
    }
    // Anchor hash URIs stay public even with a token: they reveal only block hashes, and verifiers of a
    // Chainpoint receipt (chainpoint-parse, `profichain verify --api`) must be able to resolve them.
    const anchor = /^\/networks\/([^/]+)\/blocks\/([^/]+)\/hash$/.exec(path)
    if (anchor) {
      route = 'anchor'
      if (method !== 'GET' && method !== 'HEAD')
        return this.sendError(res, 405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`, {
          allow: 'GET, HEAD',
        })
      let network: string
      try {
        network = decodeURIComponent(anchor[1])
      } catch {
        return this.sendError(res, 400, 'BAD_USER_INPUT', 'malformed network id in the URL')
      }
      return this.anchorHash(res, network, anchor[2])
    }
    // Block log and witness routes: public too (hashes and signed notes only; DESIGN §11).
    if (isCheckpointPath(path)) {
      route = 'checkpoint'
      return serveCheckpointRoute(this.components.checkpoints, path, method, req, url, res, (r, s, t, b, h) => this.send(r, s, t, b, h))
    }
    // The explorer's page and scripts and GraphiQL's: static and public, like the GraphiQL page (explorer.ts).
    if (isExplorerAsset(path)) {
      route = 'explorer'
      return serveExplorerAsset(path, method, this.components.status().type, res, (r, s, t, b, h) => this.send(r, s, t, b, h))
    }
    const isGraphql = path === '/graphql' || path === '/graphql/'
    // The GraphiQL page is static and asks for nothing: browsers cannot attach a bearer token to a page load.
    const graphiqlPage = isGraphql && method === 'GET' && (req.headers.accept ?? '').includes('text/html')
    if (graphiqlPage) route = 'graphiql'
    if (this.tokenDigest && !graphiqlPage && !this.authorized(req)) {
      this.metrics.refused.inc({ reason: 'auth' })
      return this.sendError(
        res,
        401,
        'UNAUTHENTICATED',
        'a valid bearer token is required (Authorization: Bearer <token>)',
        {
          'www-authenticate': 'Bearer realm="profichain"',
        },
      )
    }
    if (isGraphql) {
      if (route !== 'graphiql') route = 'graphql'
      return this.graphql(req, res)
    }
    if (path === EXPLORER_GENESIS_PATH) {
      route = 'explorer'
      return serveGenesis(method, this.components.genesis, res, (r, s, t, b, h) => this.send(r, s, t, b, h))
    }
    if (path === '/v1/records') {
      route = 'records'
      const send = (status: number, type: string, body: string | Uint8Array, headers?: Record<string, string>) => this.send(res, status, type, body, headers)
      return handleRecords(req, res, this.components.records, send, (reason) => this.metrics.refused.inc({ reason }))
    }
    if (method !== 'GET' && method !== 'HEAD')
      return this.sendError(res, 405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`, {
        allow: 'GET, HEAD',
      })
    if (path === '/metrics') {
      route = 'metrics'
      const registry = this.metrics.registry
      return this.send(res, 200, registry.contentType, await registry.metrics())
    }
    const payload = /^\/tx\/([^/]+)\/payload$/.exec(path)
    if (payload) {
      route = 'payload'
      return this.payload(req, res, payload[1])
    }
    return this.sendError(res, 404, 'NOT_FOUND', `no route ${path} (GraphQL is at /graphql)`)
  }

  /** Sets CORS headers for allowed origins; false when a cross-origin request comes from a disallowed one. */
  private applyCors(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin
    if (!origin) return true
    if (this.cors.size === 0) return true // CORS off: no headers, the browser blocks the response itself.
    if (!this.cors.has('*') && !this.cors.has(origin)) return false
    res.setHeader('access-control-allow-origin', this.cors.has('*') ? '*' : origin)
    res.setHeader('vary', 'Origin')
    res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS')
    res.setHeader('access-control-allow-headers', 'authorization, content-type, accept')
    res.setHeader('access-control-max-age', '600')
    return true
  }

  private authorized(req: IncomingMessage): boolean {
    const h = req.headers.authorization
    const m = h ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null
    if (!m || !this.tokenDigest) return false
    // Compare digests: constant time and independent of the token's length.
    return timingSafeEqual(digest(m[1]), this.tokenDigest)
  }

  private healthz(res: ServerResponse): void {
    const noStore = { 'cache-control': 'no-store' }
    let ready = false
    try {
      ready = this.components.ready()
    } catch {
      ready = false
    }
    if (!ready) {
      this.send(res, 503, JSON_TYPE, JSON.stringify({ status: 'starting' }), noStore)
      return
    }
    const height = this.components.tree.head().height
    let health: NodeHealth = { status: 'ready', problems: [] }
    try {
      if (this.components.health) health = this.components.health()
    } catch (err) {
      // A broken health probe is itself a problem worth a 503, not a 500 or a false "ready".
      health = {
        status: 'degraded',
        problems: [{ code: 'HEALTH_CHECK_FAILED', message: `health check failed: ${(err as Error).message}` }],
      }
    }
    if (health.status === 'degraded') {
      this.send(
        res,
        503,
        JSON_TYPE,
        JSON.stringify({ status: 'degraded', height, problems: health.problems }),
        noStore,
      )
      return
    }
    this.send(res, 200, JSON_TYPE, JSON.stringify({ status: 'ready', height }), noStore)
  }

  private async anchorHash(res: ServerResponse, network: string, heightText: string): Promise<void> {
    const own = this.components.status().network
    if (network !== own)
      return this.send(res, 404, 'text/plain; charset=utf-8', `unknown network ${network.slice(0, 64)}\n`)
    if (!/^\d{1,15}$/.test(heightText))
      return this.send(res, 400, 'text/plain; charset=utf-8', 'height must be a non-negative integer\n')
    const height = Number(heightText)
    const hash = await this.components.tree.getHashAtHeight(height)
    if (!hash)
      return this.send(res, 404, 'text/plain; charset=utf-8', `no canonical block at height ${height}\n`)
    // Below finality the answer never changes; above it a reorg may change it.
    const cache =
      height <= this.components.tree.finalHeight() ? 'public, max-age=31536000, immutable' : 'no-cache'
    return this.send(res, 200, 'text/plain; charset=utf-8', toHex(hash), { 'cache-control': cache })
  }

  private async payload(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    if (!isHex(id, 32)) return this.sendError(res, 400, 'BAD_USER_INPUT', 'txId must be 64 hex characters')
    const txId = id.toLowerCase()
    const loc = await this.components.tree.getTx(txId)
    if (!loc) return this.sendError(res, 404, 'NOT_FOUND', `transaction ${txId} not found`)
    const bytes = await this.components.tree.getPayload(txId)
    if (!bytes)
      return this.sendError(
        res,
        404,
        'PAYLOAD_NOT_HELD',
        `this node does not keep the payload of ${txId} (retention policy)`,
      )
    const declared = loc.tx.body.metadata.contentType
    // Only a well-formed media type goes out as Content-Type; anything else is served as opaque bytes.
    const type =
      declared && /^[\w.+-]+\/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+-]+)*$/.test(declared)
        ? declared
        : 'application/octet-stream'
    res.writeHead(200, {
      'content-type': type,
      'content-length': String(bytes.byteLength),
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
      'content-disposition': 'attachment',
      etag: `"${toHex(loc.tx.body.payloadHash)}"`,
      'x-payload-sha256': toHex(loc.tx.body.payloadHash),
    })
    if (req.method === 'HEAD') res.end()
    else res.end(bytes)
  }

  /** Read the body with the size cap, then hand the request to yoga (which writes the answer, or the SSE stream). */
  private async graphql(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'POST') {
      const read = await this.readBody(req)
      if (read === 'too-large') {
        this.metrics.refused.inc({ reason: 'body_size' })
        this.sendError(res, 413, 'BAD_USER_INPUT', `request body larger than ${this.maxBodyBytes} bytes`, {
          connection: 'close',
        })
        return
      }
      if (read.byteLength === 0)
        return this.sendError(res, 400, 'BAD_USER_INPUT', 'empty request body')
        // The adapter takes an already-read body from `req.body` instead of the (consumed) stream.
      ;(req as IncomingMessage & { body?: unknown }).body = read
    }
    // Subscriptions answer as SSE streams: bounded in number, tracked so stop() can end them.
    const wantsStream = (req.headers.accept ?? '').includes('text/event-stream')
    if (wantsStream) {
      if (this.shutdown.signal.aborted)
        return this.sendError(res, 503, 'SHUTTING_DOWN', 'the server is stopping')
      if (this.streams.size >= this.maxSubscriptions) {
        this.metrics.refused.inc({ reason: 'subscriptions' })
        return this.sendError(
          res,
          503,
          'TOO_MANY_SUBSCRIPTIONS',
          `at most ${this.maxSubscriptions} subscription streams at once`,
        )
      }
      const entry = { res, cancel: () => res.destroy() }
      this.streams.add(entry)
      this.metrics.subscriptions.inc()
      res.once('close', () => {
        this.streams.delete(entry)
        this.metrics.subscriptions.dec()
      })
    }
    await this.yoga.requestListener(req, res)
  }

  private readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
    const max = this.maxBodyBytes
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > max) {
      req.resume()
      return Promise.resolve('too-large')
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      let size = 0
      let over = false
      req.on('data', (c: Buffer) => {
        if (over) return
        size += c.byteLength
        if (size > max) {
          over = true
          chunks.length = 0
          resolve('too-large')
          return
        }
        chunks.push(c)
      })
      req.on('end', () => {
        if (!over) resolve(Buffer.concat(chunks))
      })
      req.on('error', reject)
    })
  }
}
