import { performance } from 'node:perf_hooks'
import { inspect } from 'node:util'
import {
  DataType,
  MonitoredItem,
  OPCUACertificateManager,
  OPCUAServer,
  setDebugLogger,
  setErrorLogger,
  setWarningLogger,
  Subscription,
  type UAObject,
  Variant,
} from 'node-opcua'
import { OpcuaError } from './errors.js'

/**
 * One simulated variable. Names follow the OPC UA Machine Tool companion spec (OPC 40501-1: MachineTool →
 * Monitoring → Spindle / Channel, Production) and the CNC spec's actual values (OPC 40502: ActSpeed, ActPos,
 * ActFeedrate, ActLoad) where they fit; temperatures have no standard name there and are our own.
 */
export interface SimVariable {
  /** Browse path below `MachineTool`, e.g. `Monitoring/Spindle/ActSpeed`; the node id is `ns=1;s=MachineTool/<path>`. */
  path: string
  dataType: 'Double' | 'UInt32' | 'Boolean' | 'String'
  /** `fast` variables change at every read (sampled as fast as the server allows); the others change per part. */
  fast: boolean
}

export const SIM_NAMESPACE = 'urn:profichain:machine-tool-simulator'

/** The simulated machine tool's variables: 10 fast analog values, then the slow ones. */
export const SIM_VARIABLES: readonly SimVariable[] = [
  { path: 'Monitoring/Spindle/ActSpeed', dataType: 'Double', fast: true },
  { path: 'Monitoring/Spindle/ActLoad', dataType: 'Double', fast: true },
  { path: 'Monitoring/Channel/ActFeedrate', dataType: 'Double', fast: true },
  { path: 'Monitoring/Axes/X/ActPos', dataType: 'Double', fast: true },
  { path: 'Monitoring/Axes/Y/ActPos', dataType: 'Double', fast: true },
  { path: 'Monitoring/Axes/Z/ActPos', dataType: 'Double', fast: true },
  { path: 'Monitoring/Axes/X/ActLoad', dataType: 'Double', fast: true },
  { path: 'Monitoring/Temperatures/SpindleMotor', dataType: 'Double', fast: true },
  { path: 'Monitoring/Temperatures/Coolant', dataType: 'Double', fast: true },
  { path: 'Monitoring/Temperatures/Ambient', dataType: 'Double', fast: true },
  { path: 'Monitoring/Spindle/Override', dataType: 'Double', fast: false },
  { path: 'Monitoring/Spindle/IsRotating', dataType: 'Boolean', fast: false },
  { path: 'Monitoring/Channel/FeedOverride', dataType: 'Double', fast: false },
  { path: 'Production/PartsProduced', dataType: 'UInt32', fast: false },
  { path: 'Production/QualityResult', dataType: 'String', fast: false },
]

/** Node id (string form) of a simulated variable. */
export function simNodeId(path: string, namespaceIndex = 1): string {
  return `ns=${namespaceIndex};s=MachineTool/${path}`
}

export interface SimulatorInit {
  /** TCP port (0 = any free port). */
  port?: number
  host?: string
  /** Fastest sampling the server grants, ms (MinimumSamplingInterval of the fast variables and the server's floor). */
  minSamplingIntervalMs?: number
  /** Fastest publishing interval the server grants, ms. */
  minPublishingIntervalMs?: number
  /** Seconds per simulated part (QualityResult, PartsProduced). */
  partSeconds?: number
  /** PKI folder of the server's own certificate (node-opcua certificate manager). */
  pkiDir?: string
  /** Users allowed in addition to anonymous (user/password token). */
  users?: { user: string; password: string }[]
  /** Refuse anonymous sessions. */
  requireUser?: boolean
}

export interface Simulator {
  readonly endpointUrl: string
  readonly port: number
  /** Reads of the fast variables served since start (the server samples by reading). */
  readonly reads: number
  stop(): Promise<void>
}

/** Raise node-opcua's process-wide floors (50 ms by default) so monitored items can sample faster. */
export function raiseSamplingLimits(minSamplingIntervalMs: number, minPublishingIntervalMs: number): void {
  MonitoredItem.minimumSamplingInterval = Math.min(MonitoredItem.minimumSamplingInterval, minSamplingIntervalMs)
  Subscription.minimumPublishingInterval = Math.min(Subscription.minimumPublishingInterval, minPublishingIntervalMs)
}

/** Start a node-opcua server that simulates a machine tool (DESIGN §14; for demos, tests and the evaluation). */
export async function createSimulator(init: SimulatorInit = {}): Promise<Simulator> {
  const minSampling = init.minSamplingIntervalMs ?? 10
  const minPublishing = init.minPublishingIntervalMs ?? 10
  raiseSamplingLimits(minSampling, minPublishing)
  const partMs = (init.partSeconds ?? 5) * 1000
  const users = init.users ?? []
  const server = new OPCUAServer({
    port: init.port ?? 0,
    hostname: init.host ?? '127.0.0.1',
    resourcePath: '/UA/MachineTool',
    buildInfo: { productName: 'Profichain machine tool simulator', manufacturerName: 'Profichain' },
    allowAnonymous: !init.requireUser,
    ...(init.pkiDir ? { serverCertificateManager: new OPCUACertificateManager({ rootFolder: init.pkiDir, automaticallyAcceptUnknownCertificate: true }) } : {}),
    userManager: {
      isValidUser: (user: string, password: string) => users.some((u) => u.user === user && u.password === password),
    },
    serverCapabilities: { minSupportedSampleRate: minSampling, maxMonitoredItemsQueueSize: 100_000 },
  })
  const t0 = performance.now()
  let reads = 0
  const t = () => (performance.now() - t0) / 1000
  const part = () => Math.floor((performance.now() - t0) / partMs)
  const fastValue: Record<string, () => number> = {
    'Monitoring/Spindle/ActSpeed': () => 12000 + 150 * Math.sin(t() * 3.1),
    'Monitoring/Spindle/ActLoad': () => 42 + 8 * Math.sin(t() * 1.7),
    'Monitoring/Channel/ActFeedrate': () => 2400 + 300 * Math.sin(t() * 0.9),
    'Monitoring/Axes/X/ActPos': () => 250 * Math.sin(t() * 0.5),
    'Monitoring/Axes/Y/ActPos': () => 120 * Math.cos(t() * 0.5),
    'Monitoring/Axes/Z/ActPos': () => -30 + 5 * Math.sin(t() * 0.25),
    'Monitoring/Axes/X/ActLoad': () => 18 + 3 * Math.sin(t() * 2.3),
    'Monitoring/Temperatures/SpindleMotor': () => 55 + 0.002 * t() + 0.3 * Math.sin(t() * 0.1),
    'Monitoring/Temperatures/Coolant': () => 21 + 0.001 * t() + 0.2 * Math.sin(t() * 0.07),
    'Monitoring/Temperatures/Ambient': () => 23.5 + 0.0005 * t() + 0.1 * Math.sin(t() * 0.03),
  }
  const slowValue: Record<string, () => number | boolean | string> = {
    'Monitoring/Spindle/Override': () => 100,
    'Monitoring/Spindle/IsRotating': () => true,
    'Monitoring/Channel/FeedOverride': () => 100,
    'Production/PartsProduced': () => part(),
    // A deterministic quality verdict per part: every 7th part is out of tolerance.
    'Production/QualityResult': () => (part() % 7 === 6 ? 'NOK' : 'OK'),
  }
  try {
    await server.initialize()
    const addressSpace = server.engine.addressSpace
    if (!addressSpace) throw new Error('no address space after initialize')
    const ns = addressSpace.getOwnNamespace()
    const folders = new Map<string, UAObject>()
    const machine = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'MachineTool', nodeId: 's=MachineTool' })
    folders.set('', machine)
    const folder = (path: string): UAObject => {
      const have = folders.get(path)
      if (have) return have
      const cut = path.lastIndexOf('/')
      const parent = folder(cut < 0 ? '' : path.slice(0, cut))
      const o = ns.addObject({ componentOf: parent, browseName: path.slice(cut + 1), nodeId: `s=MachineTool/${path}` })
      folders.set(path, o)
      return o
    }
    for (const v of SIM_VARIABLES) {
      const cut = v.path.lastIndexOf('/')
      const get = v.fast ? fastValue[v.path] : slowValue[v.path]
      if (!get) throw new Error(`no value source for ${v.path}`)
      ns.addVariable({
        componentOf: folder(v.path.slice(0, cut)),
        browseName: v.path.slice(cut + 1),
        nodeId: `s=MachineTool/${v.path}`,
        dataType: v.dataType,
        minimumSamplingInterval: v.fast ? minSampling : 100,
        value: {
          get: () => {
            if (v.fast) reads++
            return new Variant({ dataType: DataType[v.dataType], value: get() })
          },
        },
      })
    }
    await server.start()
  } catch (err) {
    await server.shutdown(0).catch(() => {})
    throw new OpcuaError('ERR_OPCUA_SIMULATOR', `the OPC UA simulator did not start: ${(err as Error).message}`, {}, { cause: err })
  }
  const endpointUrl = server.getEndpointUrl()
  const port = Number(new URL(endpointUrl.replace(/^opc\.tcp:/, 'http:')).port)
  return {
    endpointUrl: `opc.tcp://${init.host ?? '127.0.0.1'}:${port}/UA/MachineTool`,
    port,
    get reads() {
      return reads
    },
    async stop() {
      await server.shutdown(0)
    },
  }
}

/** Send node-opcua's own warning and error lines to `write` (the CLI: stderr, so stdout carries only what it prints). */
export function routeOpcuaLogs(write: (line: string) => void): void {
  const f = (...args: unknown[]) => {
    // node-opcua passes its caller ({ filename, callerline }) first.
    const first = args[0] as { filename?: unknown } | undefined
    const from = first && typeof first === 'object' && 'filename' in first ? `node-opcua ${String(first.filename)}: ` : ''
    const rest = from ? args.slice(1) : args
    write(`${from}${rest.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 3 }))).join(' ')}\n`)
  }
  setWarningLogger(f)
  setErrorLogger(f)
  setDebugLogger(f)
}
