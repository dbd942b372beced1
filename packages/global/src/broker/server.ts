import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { createServer as createTlsServer } from 'node:tls'
import { Aedes, type Client } from 'aedes'
import { Counter, Gauge, type Registry } from 'prom-client'
import { createWebSocketStream, WebSocketServer } from 'ws'
import { BrokerError } from './errors.js'
import type { BrokerLogger } from './link.js'

export interface BrokerTlsInit {
  /** PEM private key and certificate chain. */
  key: string | Buffer
  cert: string | Buffer
  port: number
}

export interface BrokerInit {
  /** Address to listen on. Default 0.0.0.0 (every interface). */
  host?: string
  /** Plain MQTT port: 1883 by default, 0 = any free port, null = no plain listener. */
  port?: number | null
  /** MQTT over TLS (mqtts://). */
  tls?: BrokerTlsInit
  /** MQTT over WebSocket (ws://, path /mqtt or any). */
  ws?: { port: number }
  /** MQTT over WebSocket over TLS (wss://), e.g. on 443 to pass company firewalls. */
  wss?: BrokerTlsInit
  /** Connections open at once at most, over all listeners (beyond: closed at once). Default 1000. */
  maxConnections?: number
  /** Largest MQTT packet a client may send, bytes (beyond: the client is disconnected). Default 2 MiB. */
  maxPacketBytes?: number
}

export interface BrokerComponents {
  logger?: BrokerLogger
  registry?: Registry
}

/** The embedded MQTT 3.1.1 broker (aedes, in-memory: the link re-sends, so nothing needs to survive a restart). */
export interface Broker {
  /** One URL per listener, with the port actually bound (mqtt://, mqtts://, ws://, wss://); set by start(). */
  readonly urls: string[]
  start(): Promise<void>
  stop(): Promise<void>
}

export function createBroker(init: BrokerInit = {}, components: BrokerComponents = {}): Broker {
  return new EmbeddedBroker(init, components)
}

const noopLogger: BrokerLogger = { debug() {}, info() {}, warn() {}, error() {} }

type Listener = { scheme: 'mqtt' | 'mqtts' | 'ws' | 'wss'; server: NetServer | HttpServer; wss?: WebSocketServer }

class EmbeddedBroker implements Broker {
  urls: string[] = []
  private aedes?: Aedes
  private listeners: Listener[] = []
  private readonly sockets = new Set<Duplex>()
  private readonly log: BrokerLogger
  private readonly maxConnections: number
  private readonly maxPacketBytes: number
  private readonly metrics?: { refused: Counter<'reason'> }

  constructor(
    private readonly init: BrokerInit,
    components: BrokerComponents,
  ) {
    this.log = components.logger ?? noopLogger
    this.maxConnections = init.maxConnections ?? 1000
    this.maxPacketBytes = init.maxPacketBytes ?? 2 * 1024 * 1024
    if (components.registry) {
      const registers = [components.registry]
      this.metrics = {
        refused: new Counter({
          name: 'profichain_broker_server_refused_total',
          help: 'Connections closed by the embedded broker, by reason (connections: over maxConnections; packet: over maxPacketBytes)',
          labelNames: ['reason'],
          registers,
        }),
      }
      const sockets = this.sockets
      new Gauge({
        name: 'profichain_broker_server_connections',
        help: 'Connections open on the embedded broker',
        registers,
        collect() {
          this.set(sockets.size)
        },
      })
    }
  }

  async start(): Promise<void> {
    if (this.aedes) return
    const aedes = await Aedes.createBroker({ maxClientsIdLength: 64 })
    this.aedes = aedes
    // A packet over the limit that slipped past the length guard (below) is still refused here.
    aedes.authorizePublish = (_client, packet, cb) => {
      if (packet.payload.length > this.maxPacketBytes) {
        this.metrics?.refused.inc({ reason: 'packet' })
        cb(new Error('packet too large'))
        return
      }
      cb(null)
    }
    aedes.on('clientError', (client: Client, err: Error) => this.log.debug({ client: client.id, err: err.message }, 'mqtt client error'))
    const host = this.init.host ?? '0.0.0.0'
    try {
      const port = this.init.port === undefined ? 1883 : this.init.port
      if (port !== null) {
        await this.listen({ scheme: 'mqtt', server: createNetServer((s) => this.accept(s)) }, host, port)
      }
      if (this.init.tls) {
        const t = this.init.tls
        await this.listen({ scheme: 'mqtts', server: createTlsServer({ key: t.key, cert: t.cert }, (s) => this.accept(s)) }, host, t.port)
      }
      if (this.init.ws) await this.listenWs('ws', createHttpServer(), host, this.init.ws.port)
      if (this.init.wss) {
        const t = this.init.wss
        await this.listenWs('wss', createHttpsServer({ key: t.key, cert: t.cert }), host, t.port)
      }
    } catch (err) {
      await this.stop()
      if (err instanceof BrokerError) throw err
      throw new BrokerError('ERR_BROKER_LISTEN', `the broker cannot start: ${(err as Error).message} (check the TLS key and certificate files)`, {}, { cause: err })
    }
    this.log.info({ urls: this.urls }, 'mqtt broker listening')
  }

  private async listenWs(scheme: 'ws' | 'wss', server: HttpServer, host: string, port: number): Promise<void> {
    const wss = new WebSocketServer({ server, maxPayload: this.maxPacketBytes + 16 })
    wss.on('connection', (ws, req) => {
      const stream = createWebSocketStream(ws)
      stream.on('error', () => ws.terminate())
      this.accept(stream, req)
    })
    await this.listen({ scheme, server, wss }, host, port)
  }

  private listen(l: Listener, host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          new BrokerError(
            'ERR_BROKER_LISTEN',
            err.code === 'EADDRINUSE'
              ? `port ${port} is in use: stop what listens there or choose another port`
              : `cannot listen on ${host}:${port} (${l.scheme}): ${err.message}`,
            { url: `${l.scheme}://${host}:${port}` },
            { cause: err },
          ),
        )
      }
      l.server.once('error', onError)
      l.server.listen(port, host, () => {
        l.server.off('error', onError)
        l.server.on('error', (err) => this.log.warn({ err }, 'mqtt listener error'))
        this.listeners.push(l)
        const addr = l.server.address() as AddressInfo
        const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
        this.urls.push(`${l.scheme}://${shown}:${addr.port}`)
        resolve()
      })
    })
  }

  private accept(stream: Duplex, req?: import('node:http').IncomingMessage): void {
    const aedes = this.aedes
    if (!aedes || aedes.closed) {
      stream.destroy()
      return
    }
    if (this.sockets.size >= this.maxConnections) {
      this.metrics?.refused.inc({ reason: 'connections' })
      stream.destroy()
      return
    }
    this.sockets.add(stream)
    stream.once('close', () => this.sockets.delete(stream))
    stream.on('error', () => {})
    ;(stream as Socket).setNoDelay?.(true)
    const client = aedes.handle(stream, req)
    guardPacketLength(client, this.maxPacketBytes, () => {
      this.metrics?.refused.inc({ reason: 'packet' })
      this.log.debug({ client: client.id }, 'mqtt packet over maxPacketBytes: client disconnected')
      stream.destroy()
    })
  }

  async stop(): Promise<void> {
    const aedes = this.aedes
    this.aedes = undefined
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    await Promise.all(
      this.listeners.map(
        (l) =>
          new Promise<void>((resolve) => {
            l.wss?.close()
            l.server.close(() => resolve())
            ;(l.server as HttpServer).closeAllConnections?.()
          }),
      ),
    )
    this.listeners = []
    this.urls = []
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()))
  }
}

/**
 * Close a client as soon as an MQTT fixed header announces a packet longer than `max`, before its body is
 * buffered: aedes (mqtt-packet) has no limit of its own and would buffer up to 256 MiB per packet.
 */
function guardPacketLength(client: Client, max: number, onTooLarge: () => void): void {
  const parser = (client as unknown as { _parser?: { packet?: { length?: number }; _parseLength?: () => boolean } })._parser
  const parseLength = parser?._parseLength
  if (!parser || typeof parseLength !== 'function') return // another aedes version: authorizePublish still refuses
  parser._parseLength = function guarded(this: typeof parser) {
    const done = parseLength.call(this)
    if (done && (this.packet?.length ?? 0) > max) {
      onTooLarge()
      return false // stop parsing: the connection is closed
    }
    return done
  }
}
