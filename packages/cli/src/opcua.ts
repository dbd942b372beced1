import { join, resolve } from 'node:path'
import type { Bridge, BridgeConfig, BridgeLogger, RecordOutput, Simulator } from '@profichain/opcua'
import { type Command, InvalidArgumentError } from 'commander'
import { CliError, portNumber } from './util.js'

// node-opcua is large and logs at import: load it (and the client) only when an OPC UA command runs, not on every
// `profichain` invocation.
const opcua = () => import('@profichain/opcua')

function positive(v: string): number {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number')
  return n
}

/** JSON log lines on stderr (the bridge's few events; samples are never logged). */
const stderrLogger: BridgeLogger = {
  info: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'info', time: Date.now(), component: 'opcua', ...obj, msg })}\n`),
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', time: Date.now(), component: 'opcua', ...obj, msg })}\n`),
}

/** The bridge's output from its config: files in an inbox, or the ingest API as a registered device. */
export async function outputFor(cfg: BridgeConfig): Promise<RecordOutput> {
  const { createApiOutput, createFileOutput } = await opcua()
  const o = cfg.output
  if (o.kind === 'files') return createFileOutput({ dir: o.inbox, stateDir: cfg.stateDir, publisherId: cfg.publisherId, rotate: o.rotate })
  const { readKeyFile } = await import('@profichain/core')
  const { createClient } = await import('@profichain/client')
  const client = createClient({
    host: o.host,
    port: o.port,
    fingerprint: o.fingerprint,
    network: o.network,
    deviceKey: await readKeyFile(o.deviceKey),
    spoolDir: o.spoolDir,
  })
  client.on('failure', (e) => stderrLogger.warn({ code: e.code, err: e.message }, 'ingest API client'))
  return createApiOutput(client, { metadata: { 'opcua-publisher': cfg.publisherId } })
}

/** Start a bridge from a loaded config. */
export async function startBridge(cfg: BridgeConfig, logger: BridgeLogger = stderrLogger): Promise<Bridge> {
  const { createBridge } = await opcua()
  const bridge = createBridge(
    {
      publisherId: cfg.publisherId,
      servers: cfg.servers,
      samplesPerRecord: cfg.samplesPerRecord,
      maxRecordDelayMs: cfg.maxRecordDelayMs,
      ...(cfg.pkiDir ? { pkiDir: cfg.pkiDir } : {}),
    },
    { output: await outputFor(cfg), logger },
  )
  await bridge.start()
  return bridge
}

/** A bridge config for the simulator's 10 fast variables, writing files into `inbox` (devnet, demos). */
export async function simulatorBridgeConfig(endpointUrl: string, inbox: string, stateDir: string, samplesPerRecord = 10, samplingIntervalMs = 10): Promise<BridgeConfig> {
  const { SIM_VARIABLES, simNodeId } = await opcua()
  return {
    publisherId: 'machine-tool-sim',
    samplesPerRecord,
    maxRecordDelayMs: 1000,
    stateDir,
    output: { kind: 'files', inbox, rotate: { maxBytes: 4 * 1024 * 1024, maxMs: 1000, maxLines: 10_000 } },
    servers: [
      {
        name: 'simulator',
        endpointUrl,
        items: SIM_VARIABLES.filter((v) => v.fast).map((v) => ({
          nodeId: simNodeId(v.path),
          name: v.path.split('/').slice(-2).join('.'),
          samplingIntervalMs,
          publishingIntervalMs: 100,
          queueSize: 1000,
        })),
      },
    ],
  }
}

/** One line per interval: the achieved sample rate per variable (the research system saw a packet every 22 ms). */
function rateReporter(bridge: Bridge, everyMs: number): NodeJS.Timeout {
  let last = bridge.stats()
  let lastAt = Date.now()
  const t = setInterval(() => {
    const now = bridge.stats()
    const dt = (Date.now() - lastAt) / 1000
    const rates = now.perItem.map((p, i) => (p.samples - last.perItem[i].samples) / dt)
    const mean = rates.reduce((a, b) => a + b, 0) / Math.max(1, rates.length)
    stderrLogger.info(
      { variables: rates.length, meanRateHz: Math.round(mean * 10) / 10, samples: now.received, records: now.records, duplicates: now.duplicates, gaps: now.gaps },
      'achieved sample rate per variable',
    )
    last = now
    lastAt = Date.now()
  }, everyMs)
  t.unref()
  return t
}

const HELP = `
The bridge subscribes to variables on OPC UA servers (node-opcua client: monitored items with their own
sampling and publishing intervals, reconnect with back-off, security mode/policy, user/password or
certificate identity) and turns the samples into OPC UA PubSub JSON NetworkMessages (OPC 10000-14), N
samples per record. Records go either into rotated JSONL files in a node's inbox (written as dotfile
*.part, fsynced, renamed; each file names its sequence number and the previous file's SHA-256; a gap
marker after a reconnect) or over the ingest API as a registered device (sealed at the source).
--simulate starts a machine-tool simulator (node-opcua server) and prints its endpoint URL on stdout.
See docs/opcua.md and configs/opcua.toml.`

/** `profichain opcua --config opcua.toml | --simulate`. */
export function registerOpcuaCommand(program: Command): void {
  program
    .command('opcua')
    .description('OPC UA bridge (machine data → records) and machine-tool simulator')
    .option('--config <file>', 'bridge config (TOML, see configs/opcua.toml)')
    .option('--simulate', 'start the machine-tool simulator (OPC UA server)')
    .option('--port <port>', 'simulator port', portNumber, 4840)
    .option('--host <host>', 'simulator host', '127.0.0.1')
    .option('--min-sampling <ms>', 'simulator: fastest sampling interval granted, ms', positive, 10)
    .option('--report-every <ms>', 'log the achieved sample rate this often, ms', positive, 10_000)
    .addHelpText('after', `${HELP}\n\nExample:\n  profichain opcua --simulate --port 4840 &\n  profichain opcua --config opcua.toml\n`)
    .action(async (o: { config?: string; simulate?: boolean; port: number; host: string; minSampling: number; reportEvery: number }) => {
      if (!o.config && !o.simulate) throw new CliError('ERR_CLI_USAGE', 'give --config <file> (run the bridge) and/or --simulate (run the simulator)')
      const { createSimulator, loadBridgeConfig, routeOpcuaLogs } = await opcua()
      routeOpcuaLogs((line) => process.stderr.write(line))
      let sim: Simulator | undefined
      let bridge: Bridge | undefined
      if (o.simulate) {
        sim = await createSimulator({ port: o.port, host: o.host, minSamplingIntervalMs: o.minSampling, minPublishingIntervalMs: o.minSampling })
        process.stdout.write(`${sim.endpointUrl}\n`)
        let reads = 0
        const t = setInterval(() => {
          const r = sim!.reads
          stderrLogger.info({ readsPerSecond: Math.round(((r - reads) / o.reportEvery) * 1000) }, 'simulator: fast-variable reads (the server samples by reading)')
          reads = r
        }, o.reportEvery)
        t.unref()
      }
      if (o.config) {
        const cfg = await loadBridgeConfig(resolve(o.config))
        bridge = await startBridge(cfg)
        bridge.events.on('error', (err) => {
          stderrLogger.warn({ err: err.message }, 'bridge output failed; exiting')
          process.exit(1)
        })
        rateReporter(bridge, o.reportEvery)
        stderrLogger.info({ publisherId: cfg.publisherId, servers: cfg.servers.length, output: cfg.output.kind }, 'bridge started')
      }
      await new Promise<void>((res) => {
        const done = () => res()
        process.once('SIGINT', done)
        process.once('SIGTERM', done)
      })
      await bridge?.stop()
      await sim?.stop()
      stderrLogger.info({ ...(bridge ? { stats: { ...bridge.stats(), perItem: undefined } } : {}) }, 'opcua stopped')
    })
}

/** devnet --opcua: the simulator and a bridge writing into `inbox` (a thin node's), in this process. */
export async function startDevnetOpcua(dir: string, inbox: string): Promise<{ endpointUrl: string; inbox: string; stop: () => Promise<void> }> {
  const { createSimulator, routeOpcuaLogs } = await opcua()
  routeOpcuaLogs((line) => process.stderr.write(line))
  const sim = await createSimulator({ port: 0, pkiDir: join(dir, 'opcua-pki', 'simulator') })
  const bridge = await startBridge({ ...(await simulatorBridgeConfig(sim.endpointUrl, join(inbox, 'opcua'), join(dir, 'opcua-state'))), pkiDir: join(dir, 'opcua-pki', 'bridge') })
  return {
    endpointUrl: sim.endpointUrl,
    inbox: join(inbox, 'opcua'),
    async stop() {
      await bridge.stop().catch(() => {})
      await sim.stop().catch(() => {})
    },
  }
}
