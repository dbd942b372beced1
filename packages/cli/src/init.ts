import { access, copyFile, mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { generateKeyPair, nodeIdOf, toHex, writeKeyFile } from '@profichain/core'
import { createGenesis, loadGenesis, serializeGenesis } from '@profichain/consensus'
import { ensureCertificate } from '@profichain/ingest'
import { peerIdFromPublicKey } from '@profichain/network'
import { loadOrCreateHpkeKey, NODE_TYPES, type NodeType, TYPE_PRESETS } from '@profichain/node'
import { CliError } from './util.js'

export interface InitOptions {
  type: NodeType
  dataDir: string
  genesis?: string
  network?: string
  p2pPort: number
  apiPort: number
  blockTime?: number
  bootstrap?: string[]
  lineMode?: boolean
  name?: string
  /** Log origin of a new network (genesis `origin`, DESIGN §11); default derived from the network id. */
  origin?: string
  /** Use an existing key file instead of generating one (devnet). */
  quiet?: boolean
}

/** The commented config written by `profichain init`; every key is documented in docs/operations.md. */
export function configToml(o: {
  type: NodeType
  p2pPort: number
  apiPort: number
  bootstrap: string[]
  lineMode: boolean
  /** How long a file's size must stay unchanged before it is taken (default 500 ms). */
  stableMs?: number
}): string {
  return `# Profichain node configuration (see docs/operations.md).
# Node type: thin | producer | archive | full (DESIGN §2). Modules below may override the preset.
type = "${o.type}"
genesis = "genesis.json"   # network genesis, relative to this data dir
key = "node.key"           # Ed25519 key (PKCS#8 PEM, mode 0600): node identity and record signer
db = "db"                  # LevelDB directory

[modules]
# producer = true          # seal blocks (must be a validator in genesis)
# archive = true           # keep every payload
# ingest = true            # watch the inbox folder
# api = true               # GraphQL + REST API
# network = true           # libp2p networking
# ingest_api = true        # device ingest API: TLS 1.3 server for device-signed records (docs/ingest-protocol.md)

[p2p]
host = "127.0.0.1"
port = ${o.p2pPort}
bootstrap = [${o.bootstrap.map((b) => JSON.stringify(b)).join(', ')}]
target_peers = 8
# relay_txs = true         # relay peers' tx batches: producers and archive nodes always do, other nodes by
                           # default only when genesis has more than target_peers + 1 members (docs/network.md)

[api]
host = "127.0.0.1"          # any non-loopback address requires token
port = ${o.apiPort}
# token = "change-me-to-a-long-random-string"
# public_url = "https://node.example.com"   # base of Chainpoint anchor URIs
cors = []

[ingest]
inbox = "inbox"             # drop files here; they move to processed/ or rejected/
include = ["**/*"]
exclude = []
# max_file_bytes = 16777216 # default and upper bound: genesis maxTxBytes
line_mode = [${o.lineMode ? '"**/*.jsonl", "**/*.csv"' : ''}]   # files whose every line becomes one record
stable_ms = ${o.stableMs ?? 500}             # a file counts once its size is unchanged this long

[ingest_api]                # used when [modules] ingest_api = true; limits: docs/ingest-protocol.md
host = "127.0.0.1"
port = 7443
# dir = "ingest-api"        # TLS certificate and key (clients pin its fingerprint: profichain status)
# max_connections = 1024    # also: max_unauthenticated, max_connections_per_device, max_frame_bytes,
# rate_per_device = 5000    #   max_batch, max_in_flight, hello_timeout_ms, idle_timeout_ms, write_buffer_bytes, slow_reader_ms

[producer]
empty_blocks = false        # seal blocks even when there is nothing to commit
max_txs_per_block = 50000
max_block_payload_mib = 256 # payload bytes one block may commit (payloads travel beside blocks)

[store]
# retention = "all"         # all | none | [{ origin = "<hex key>" }, { kind = "record", metadata = { device = "press-7" } }]
confirmations = 1           # depth at which own records count as committed (receipt written, outbox cleared)

[processing]
threads = 2                 # worker threads for signature checks and Merkle builds (0 = main thread)

[log]
level = "info"
`
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  )
}

/** `profichain init`: data dir with config.toml, node.key (0600), genesis.json and inbox/. */
export async function init(o: InitOptions): Promise<{ dataDir: string; publicKey: string; nodeId: string; ingestFingerprint: string }> {
  if (!(NODE_TYPES as readonly string[]).includes(o.type)) {
    throw new CliError('ERR_CLI_USAGE', `--type must be one of ${NODE_TYPES.join(', ')}, not "${o.type}"`)
  }
  if (!o.genesis && !TYPE_PRESETS[o.type].producer) {
    // A new network's only validator would be this node, and a thin/archive node never produces:
    // every file would be ingested and no receipt would ever come.
    throw new CliError(
      'ERR_CLI_USAGE',
      `a ${o.type} node does not produce blocks, so without --genesis it would be the only validator of a new network that never makes a block (no receipt would ever come). ` +
        `To join a network pass --genesis <genesis.json of that network> (then list one of its nodes in [p2p] bootstrap of config.toml); for a standalone node use --type full or --type producer`,
    )
  }
  const dir = resolve(o.dataDir)
  if (await exists(join(dir, 'config.toml'))) {
    throw new CliError('ERR_CLI_DATA_DIR', `${dir} already holds a node (config.toml exists); choose another --data-dir`)
  }
  await mkdir(join(dir, 'inbox'), { recursive: true })
  const key = generateKeyPair()
  await writeKeyFile(join(dir, 'node.key'), key)
  await loadOrCreateHpkeKey(join(dir, 'hpke.key')) // X25519 key for partner links over a broker (DESIGN §11)
  if (o.genesis) {
    const g = await loadGenesis(o.genesis) // validates before copying
    if (o.type !== 'thin' && o.type !== 'archive' && !g.validators.includes(toHex(key.publicKey))) {
      process.stderr.write(
        `note: this new key is not a validator in ${o.genesis}; as a ${o.type} node it will not produce until genesis lists ${toHex(key.publicKey)}\n`,
      )
    }
    await copyFile(o.genesis, join(dir, 'genesis.json'))
  } else {
    const g = createGenesis({
      network: o.network ?? 'local',
      validators: [key],
      members: [{ name: o.name ?? 'node-0', publicKey: toHex(key.publicKey), roles: ['validator', 'producer', o.type] }],
      blockTimeMs: o.blockTime ?? 1000,
      ...(o.origin !== undefined ? { origin: o.origin } : {}),
    })
    await writeFile(join(dir, 'genesis.json'), serializeGenesis(g))
  }
  await writeFile(
    join(dir, 'config.toml'),
    configToml({ type: o.type, p2pPort: o.p2pPort, apiPort: o.apiPort, bootstrap: o.bootstrap ?? [], lineMode: o.lineMode ?? false }),
  )
  // The device ingest API's TLS certificate: made now so its fingerprint can be handed to devices before the first start.
  const cert = await ensureCertificate(join(dir, 'ingest-api'))
  return { dataDir: dir, publicKey: toHex(key.publicKey), nodeId: nodeIdOf(key.publicKey), ingestFingerprint: cert.fingerprintHex }
}

/** Consensus kinds `init` and `devnet` can set up for a new network. */
export const INIT_CONSENSUS = ['authority', 'quorum'] as const
export type InitConsensus = (typeof INIT_CONSENSUS)[number]

/**
 * Default co-signature threshold for `n` quorum validators: ⌊2n/3⌋ + 1 (finality holds with fewer than n/3
 * validators misbehaving; up to ⌈n/3⌉ − 1 may be down and blocks still become final). Always in the range
 * genesis accepts for quorum (more than half, at most all).
 */
export function defaultQuorumThreshold(n: number): number {
  return Math.floor((2 * n) / 3) + 1
}

/** Check `--validators` / `--threshold` as genesis will (CliError with a usage message). */
export function checkQuorumShape(validators: number, threshold: number | undefined): number {
  if (!Number.isInteger(validators) || validators < 1 || validators > 32) {
    throw new CliError('ERR_CLI_USAGE', `--validators must be 1..32, not ${validators}`)
  }
  const t = threshold ?? defaultQuorumThreshold(validators)
  if (!Number.isInteger(t) || t > validators || t * 2 <= validators) {
    throw new CliError(
      'ERR_CLI_USAGE',
      `--threshold ${t} is not safe for ${validators} validators: it must be more than half and at most all (${Math.floor(validators / 2) + 1}..${validators})`,
    )
  }
  return t
}

export interface InitQuorumOptions {
  /** Parent directory: gets genesis.json and one data dir per validator (validator-1 … validator-N). */
  dir: string
  validators: number
  /** Co-signatures a block needs to be final; default ⌊2n/3⌋ + 1. */
  threshold?: number
  network?: string
  /** Validator i (1-based) listens on p2pPort + i − 1 and apiPort + i − 1. */
  p2pPort: number
  apiPort: number
  blockTime?: number
  lineMode?: boolean
  /** Address the nodes reach each other at (default 127.0.0.1, i.e. all on this machine). */
  host?: string
  /** Log origin of the new network (genesis `origin`). */
  origin?: string
}

export interface InitQuorumNode {
  name: string
  dataDir: string
  publicKey: string
  nodeId: string
  p2pPort: number
  apiPort: number
}

/**
 * `profichain init --consensus quorum --validators N`: a new quorum network of N validators in one
 * directory — genesis.json (consensus quorum, threshold, every validator with its address) and the data dirs
 * validator-1 … validator-N (each with its own key, a copy of genesis and a config.toml that bootstraps from
 * every other validator). Start each with `profichain start --data-dir <dir>/validator-i`; to spread them
 * over machines, copy a data dir over and edit [p2p] host / bootstrap in its config.toml.
 */
export async function initQuorum(o: InitQuorumOptions): Promise<{ dir: string; threshold: number; genesis: string; nodes: InitQuorumNode[] }> {
  const threshold = checkQuorumShape(o.validators, o.threshold)
  const dir = resolve(o.dir)
  if (await exists(join(dir, 'genesis.json'))) {
    throw new CliError('ERR_CLI_DATA_DIR', `${dir} already holds a network (genesis.json exists); choose another --data-dir`)
  }
  const host = o.host ?? '127.0.0.1'
  const plans = Array.from({ length: o.validators }, (_, i) => ({
    name: `validator-${i + 1}`,
    key: generateKeyPair(),
    p2pPort: o.p2pPort + i,
    apiPort: o.apiPort + i,
  }))
  for (const p of plans) {
    if (await exists(join(dir, p.name, 'config.toml'))) {
      throw new CliError('ERR_CLI_DATA_DIR', `${join(dir, p.name)} already holds a node; choose another --data-dir`)
    }
  }
  const g = createGenesis({
    network: o.network ?? 'local',
    validators: plans.map((p) => p.key),
    members: plans.map((p) => ({
      name: p.name,
      publicKey: toHex(p.key.publicKey),
      roles: ['validator', 'producer', 'full'],
      addrs: [`/ip4/${host}/tcp/${p.p2pPort}`],
    })),
    consensus: { type: 'quorum', threshold },
    blockTimeMs: o.blockTime ?? 1000,
    ...(o.origin !== undefined ? { origin: o.origin } : {}),
  })
  const genesisText = serializeGenesis(g)
  await mkdir(dir, { recursive: true })
  const seeds = plans.map((p) => `/ip4/${host}/tcp/${p.p2pPort}/p2p/${peerIdFromPublicKey(p.key.publicKey)}`)
  const nodes: InitQuorumNode[] = []
  for (const [i, p] of plans.entries()) {
    const dataDir = join(dir, p.name)
    await mkdir(join(dataDir, 'inbox'), { recursive: true })
    await writeKeyFile(join(dataDir, 'node.key'), p.key)
    await loadOrCreateHpkeKey(join(dataDir, 'hpke.key'))
    await writeFile(join(dataDir, 'genesis.json'), genesisText)
    await writeFile(
      join(dataDir, 'config.toml'),
      configToml({
        type: 'full',
        p2pPort: p.p2pPort,
        apiPort: p.apiPort,
        bootstrap: seeds.filter((_, j) => j !== i),
        lineMode: o.lineMode ?? false,
      }),
    )
    nodes.push({ name: p.name, dataDir, publicKey: toHex(p.key.publicKey), nodeId: nodeIdOf(p.key.publicKey), p2pPort: p.p2pPort, apiPort: p.apiPort })
  }
  // The network's genesis beside the data dirs: what joining nodes (`init --genesis`) and `verify --genesis` take.
  await writeFile(join(dir, 'genesis.json'), genesisText)
  return { dir, threshold, genesis: join(dir, 'genesis.json'), nodes }
}
