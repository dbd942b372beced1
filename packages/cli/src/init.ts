import { access, copyFile, mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { generateKeyPair, nodeIdOf, toHex, writeKeyFile } from '@profichain/core'
import { createGenesis, loadGenesis, serializeGenesis } from '@profichain/consensus'
import { NODE_TYPES, type NodeType, TYPE_PRESETS } from '@profichain/node'
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

[p2p]
host = "127.0.0.1"
port = ${o.p2pPort}
bootstrap = [${o.bootstrap.map((b) => JSON.stringify(b)).join(', ')}]
target_peers = 8

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
export async function init(o: InitOptions): Promise<{ dataDir: string; publicKey: string; nodeId: string }> {
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
    })
    await writeFile(join(dir, 'genesis.json'), serializeGenesis(g))
  }
  await writeFile(
    join(dir, 'config.toml'),
    configToml({ type: o.type, p2pPort: o.p2pPort, apiPort: o.apiPort, bootstrap: o.bootstrap ?? [], lineMode: o.lineMode ?? false }),
  )
  return { dataDir: dir, publicKey: toHex(key.publicKey), nodeId: nodeIdOf(key.publicKey) }
}
