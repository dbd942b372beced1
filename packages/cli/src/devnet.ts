import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { access, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, type KeyPair, readKeyFile, toHex, writeKeyFile } from '@profichain/core'
import { createGenesis, serializeGenesis } from '@profichain/consensus'
import { createBroker, networkVkeys, writePartnersFile } from '@profichain/global'
import { peerIdFromPublicKey } from '@profichain/network'
import { loadOrCreateHpkeKey, type NodeType } from '@profichain/node'
import { checkQuorumShape, configToml, type InitConsensus } from './init.js'
import { startDevnetOpcua } from './opcua.js'
import { startAnchorChain } from './devnet-anchor.js'
import { CliError, daemonNodeFlags } from './util.js'

export interface DevnetOptions {
  dir: string
  thin: number
  blockTimeMs: number
  p2pBasePort: number
  apiBasePort: number
  network: string
  /** Consensus of a new devnet: 'authority' (one full node validates) or 'quorum' (`validators` full nodes co-sign). */
  consensus?: InitConsensus
  /** Quorum: number of validators (full nodes validator-1 … validator-N). Default 4. */
  validators?: number
  /** Quorum: co-signatures that make a block final. Default ⌊2N/3⌋ + 1. */
  threshold?: number
  /** Global network (DESIGN §11): this many companies (each its own genesis, chain, validator), partnered through an embedded broker. Default 1. */
  networks?: number
  /** Port of the embedded MQTT broker when networks > 1. Default 1883. */
  brokerPort?: number
  /** Log origin of a new network (default derived from the network id). */
  origin?: string
  /** MQTT broker URL written into each node's config ([broker] url). */
  brokerUrl?: string
  /** Public anchoring (DESIGN §13): start a local Ethereum chain (ganache) and let the validator anchor on it. */
  anchor?: boolean
  /** Port of that chain's JSON-RPC. Default 8645. */
  anchorPort?: number
  /** Resolve once ready instead of waiting for a signal (tests). */
  detach?: boolean
  /** Also run the OPC UA machine-tool simulator and a bridge into the first thin node's inbox (docs/opcua.md). */
  opcua?: boolean
  log?: (line: string) => void
}

export interface DevnetNodeInfo {
  name: string
  /** The network (genesis network id) this node belongs to. */
  network?: string
  type: NodeType
  dataDir: string
  inbox: string
  api: string
  pid: number
  peerId: string
  multiaddrs: string[]
}

export interface DevnetInfo {
  network: string
  nodes: DevnetNodeInfo[]
  /** `--networks N`: the companies (network id, origin, data dirs) and the embedded broker. */
  networks?: Array<{ network: string; origin: string; dir: string }>
  broker?: string
  /** With --opcua: the simulator's endpoint and the inbox folder the bridge writes to. */
  opcua?: { endpointUrl: string; inbox: string }
  /** `--anchor`: JSON-RPC URL of the local Ethereum chain the validator anchors on. */
  anchor?: string
}

interface Plan {
  name: string
  type: NodeType
  key: KeyPair
  p2pPort: number
  apiPort: number
}

const CLI_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'profichain.js')

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  )
}

async function waitReady(url: string, child: ChildProcess, name: string, logFile: string, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = await readFile(logFile, 'utf8').catch(() => '')
      throw new CliError('ERR_CLI_DEVNET', `${name} exited during start-up (code ${child.exitCode ?? child.signalCode}); last log lines:\n${log.split('\n').slice(-15).join('\n')}`)
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new CliError('ERR_CLI_DEVNET', `${name} did not become ready at ${url} in time; see ${logFile}`)
}

/**
 * Create (or reuse) the devnet's data dirs: the validators (one full node `full-0` under authority, full
 * nodes `validator-1` … `validator-N` under quorum) and N thin nodes.
 */
async function prepare(o: DevnetOptions): Promise<Plan[]> {
  const dir = resolve(o.dir)
  const quorum = o.consensus === 'quorum'
  const nValidators = quorum ? (o.validators ?? 4) : 1
  const threshold = quorum ? checkQuorumShape(nValidators, o.threshold) : undefined
  const validatorNames = quorum ? Array.from({ length: nValidators }, (_, i) => `validator-${i + 1}`) : ['full-0']
  const names = [...validatorNames, ...Array.from({ length: o.thin }, (_, i) => `thin-${i + 1}`)]
  const plans: Plan[] = []
  const reuse = await exists(join(dir, 'genesis.json'))
  for (const [i, name] of names.entries()) {
    const dataDir = join(dir, name)
    const keyFile = join(dataDir, 'node.key')
    await mkdir(join(dataDir, 'inbox'), { recursive: true })
    let key: KeyPair
    if (await exists(keyFile)) key = await readKeyFile(keyFile)
    else {
      if (reuse) throw new CliError('ERR_CLI_DATA_DIR', `${dir} holds a devnet with a different shape (no ${name}); use another --dir or delete it`)
      key = generateKeyPair()
      await writeKeyFile(keyFile, key)
    }
    plans.push({ name, type: i < nValidators ? 'full' : 'thin', key, p2pPort: o.p2pBasePort + i, apiPort: o.apiBasePort + i })
  }
  if (!reuse) {
    const g = createGenesis({
      network: o.network,
      validators: plans.slice(0, nValidators).map((p) => p.key),
      ...(threshold !== undefined ? { consensus: { type: 'quorum' as const, threshold } } : {}),
      ...(o.origin !== undefined ? { origin: o.origin } : {}),
      members: plans.map((p) => ({
        name: p.name,
        publicKey: toHex(p.key.publicKey),
        roles: p.type === 'full' ? ['validator', 'producer', 'full'] : ['thin'],
        addrs: [`/ip4/127.0.0.1/tcp/${p.p2pPort}`],
      })),
      blockTimeMs: o.blockTimeMs,
    })
    await writeFile(join(dir, 'genesis.json'), serializeGenesis(g))
  }
  const seedOf = (p: Plan) => `/ip4/127.0.0.1/tcp/${p.p2pPort}/p2p/${peerIdFromPublicKey(p.key.publicKey)}`
  const validatorPlans = plans.slice(0, nValidators)
  for (const p of plans) {
    // Every node bootstraps from every validator but itself (one full node and no bootstrap under authority).
    const bootstrap = validatorPlans.filter((v) => v !== p).map(seedOf)
    const dataDir = join(dir, p.name)
    await copyFile(join(dir, 'genesis.json'), join(dataDir, 'genesis.json'))
    await writeFile(
      join(dataDir, 'config.toml'),
      // Partnered networks seal empty blocks too: a record's block must get checkpoint.depth blocks on top
      // to enter the block log, also when no other record follows it.
      (o.brokerUrl
        ? `${configToml({ type: p.type, p2pPort: p.p2pPort, apiPort: p.apiPort, bootstrap, lineMode: true, stableMs: 200 }).replace('empty_blocks = false', 'empty_blocks = true')}\n[broker]\nurl = "${o.brokerUrl}"\n`
        : configToml({ type: p.type, p2pPort: p.p2pPort, apiPort: p.apiPort, bootstrap, lineMode: true, stableMs: 200 })),
    )
  }
  return plans
}

/** `profichain devnet`: start the nodes as separate processes, write devnet.json when all are ready. */
export async function devnet(o: DevnetOptions): Promise<{ info: DevnetInfo; stop: () => Promise<void> }> {
  if ((o.networks ?? 1) > 1) return devnetNetworks(o)
  const dir = resolve(o.dir)
  await mkdir(dir, { recursive: true })
  await rm(join(dir, 'devnet.json'), { force: true })
  if (!o.anchor) return launch(o, dir, [{ dir, network: o.network, plans: await prepare(o) }])
  const chain = await startAnchorChain(dir, o.anchorPort ?? 8645)
  try {
    const plans = await prepare(o)
    await chain.configure(join(dir, plans[0].name))
    const r = await launch(o, dir, [{ dir, network: o.network, plans }], { anchor: chain.url })
    return { info: r.info, stop: async () => { await r.stop(); await chain.stop() } }
  } catch (err) {
    await chain.stop()
    throw err
  }
}

/**
 * `devnet --networks N`: N companies, each its own genesis (network `<network>-<i>`, origin
 * `<network>-<i>.devnet.invalid/profichain`), chain and validator (authority) plus its thin nodes, in
 * `<dir>/<network>-<i>/`, an embedded MQTT broker in this process, and every validator partnered with
 * every other network (partners.json). Ports: network i uses the base ports + 20·(i-1).
 */
async function devnetNetworks(o: DevnetOptions): Promise<{ info: DevnetInfo; stop: () => Promise<void> }> {
  if (o.consensus === 'quorum') throw new CliError('ERR_CLI_DEVNET', '--networks needs authority networks (one validator each): drop --consensus quorum')
  const dir = resolve(o.dir)
  await mkdir(dir, { recursive: true })
  await rm(join(dir, 'devnet.json'), { force: true })
  const broker = createBroker({ host: '127.0.0.1', port: o.brokerPort ?? 1883 }, {})
  await broker.start()
  const url = broker.urls[0]
  try {
    const nets: Array<{ dir: string; network: string; origin: string; plans: Plan[] }> = []
    for (let i = 1; i <= (o.networks as number); i++) {
      const network = `${o.network}-${i}`
      const origin = `${network}.devnet.invalid/profichain`
      const sub = { ...o, dir: join(dir, network), network, origin, brokerUrl: url, p2pBasePort: o.p2pBasePort + 20 * (i - 1), apiBasePort: o.apiBasePort + 20 * (i - 1) }
      await mkdir(sub.dir, { recursive: true })
      nets.push({ dir: sub.dir, network, origin, plans: await prepare(sub) })
    }
    // Partner every validator with every other network: its origin, its validator's note vkey, its HPKE key.
    const selves = await Promise.all(
      nets.map(async (n) => ({
        name: n.network,
        origin: n.origin,
        vkeys: networkVkeys(n.origin, [n.plans[0].key.publicKey]),
        threshold: 1,
        encryptionKey: toHex((await loadOrCreateHpkeKey(join(n.dir, n.plans[0].name, 'hpke.key'))).publicKey),
      })),
    )
    for (const [i, n] of nets.entries()) await writePartnersFile(join(n.dir, n.plans[0].name), selves.filter((_, j) => j !== i))
    const r = await launch(o, dir, nets, { broker: url, networks: nets.map((n) => ({ network: n.network, origin: n.origin, dir: n.dir })) })
    return {
      info: r.info,
      stop: async () => {
        await r.stop()
        await broker.stop()
      },
    }
  } catch (err) {
    await broker.stop()
    throw err
  }
}

async function launch(
  o: DevnetOptions,
  dir: string,
  nets: Array<{ dir: string; network: string; plans: Plan[] }>,
  extra: Pick<DevnetInfo, 'broker' | 'networks' | 'anchor'> = {},
): Promise<{ info: DevnetInfo; stop: () => Promise<void> }> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`))
  const children: ChildProcess[] = []
  let stopOpcua: (() => Promise<void>) | undefined
  const stop = async () => {
    await stopOpcua?.()
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((res) => {
            if (c.exitCode !== null || c.signalCode !== null) return res()
            const t = setTimeout(() => c.kill('SIGKILL'), 20_000)
            c.once('exit', () => {
              clearTimeout(t)
              res()
            })
            c.kill('SIGTERM')
          }),
      ),
    )
    await rm(join(dir, 'devnet.json'), { force: true })
  }
  try {
    const nodes: DevnetNodeInfo[] = []
    for (const net of nets) for (const p of net.plans) {
      const dataDir = join(net.dir, p.name)
      const logFile = join(dataDir, 'node.log')
      // The node writes its log file itself (not through this process), so it can still log its clean
      // stop if the devnet process dies first.
      const fd = openSync(logFile, 'a')
      // Each node in its own process group: a terminal Ctrl-C (SIGINT to the foreground group) reaches
      // only this process, which then stops every node with exactly one SIGTERM. Sharing the group, a node
      // got the SIGINT and then our SIGTERM, and took the second signal as "exit without a clean stop".
      const child = spawn(process.execPath, [...daemonNodeFlags(), CLI_BIN, 'start', '--data-dir', dataDir], {
        stdio: ['ignore', fd, fd],
        detached: true,
        env: { ...process.env, PROFICHAIN_PARENT_PID: String(process.pid) },
      })
      closeSync(fd)
      children.push(child)
      const api = `http://127.0.0.1:${p.apiPort}`
      // The full node first: thin nodes bootstrap from it.
      await waitReady(api, child, p.name, logFile, Date.now() + 60_000)
      nodes.push({
        name: p.name,
        network: net.network,
        type: p.type,
        dataDir,
        inbox: join(dataDir, 'inbox'),
        api,
        pid: child.pid ?? -1,
        peerId: peerIdFromPublicKey(p.key.publicKey),
        multiaddrs: [`/ip4/127.0.0.1/tcp/${p.p2pPort}/p2p/${peerIdFromPublicKey(p.key.publicKey)}`],
      })
      log(`  ${nets.length > 1 ? `${net.network} ` : ''}${p.name.padEnd(12)} ${p.type.padEnd(5)} api ${api}  inbox ${join(dataDir, 'inbox')}`)
    }
    const genesis = JSON.parse(await readFile(join(nets[0].dir, 'genesis.json'), 'utf8')) as { network: string }
    const info: DevnetInfo = { network: genesis.network, nodes, ...extra }
    if (o.opcua) {
      const target = nodes.find((n) => n.type === 'thin') ?? nodes[0]
      const op = await startDevnetOpcua(dir, target.inbox)
      stopOpcua = op.stop
      info.opcua = { endpointUrl: op.endpointUrl, inbox: op.inbox }
      log(`  opcua        simulator ${op.endpointUrl} → bridge → ${target.name} inbox ${op.inbox}`)
    }
    await writeFile(join(dir, 'devnet.json'), `${JSON.stringify(info, null, 2)}\n`)
    return { info, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
