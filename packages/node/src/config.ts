import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import { parse as parseToml, TomlError } from 'smol-toml'
import { z } from 'zod'
import { NodeError, type NodeErrorMeta } from './errors.js'

export const NODE_TYPES = ['thin', 'producer', 'archive', 'full'] as const
export type NodeType = (typeof NODE_TYPES)[number]

/** Module switches per node type (DESIGN §2). A config may override each one. */
export const TYPE_PRESETS: Record<NodeType, { producer: boolean; archive: boolean }> = {
  thin: { producer: false, archive: false },
  producer: { producer: true, archive: false },
  archive: { producer: false, archive: true },
  full: { producer: true, archive: true },
}

export class ConfigError extends NodeError<'ERR_CONFIG'> {
  constructor(message: string, meta: NodeErrorMeta['ERR_CONFIG'] = {}) {
    super('ERR_CONFIG', message, meta)
    this.name = 'ConfigError'
  }
}

const retentionRule = z.strictObject({
  origin: z.string().regex(/^[0-9a-f]{64}$/, 'a 64-hex public key').optional(),
  kind: z.enum(['record', 'anchor']).optional(),
  metadata: z.record(z.string(), z.string()).optional(),
})

const schema = z.strictObject({
  type: z.enum(NODE_TYPES),
  genesis: z.string().default('genesis.json'),
  key: z.string().default('node.key'),
  db: z.string().default('db'),
  modules: z
    .strictObject({
      producer: z.boolean().optional(),
      archive: z.boolean().optional(),
      ingest: z.boolean().optional(),
      api: z.boolean().optional(),
      network: z.boolean().optional(),
      ingest_api: z.boolean().optional(),
    })
    .default({}),
  p2p: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(7000),
      bootstrap: z.array(z.string()).default([]),
      target_peers: z.number().int().min(1).max(200).default(8),
      relay_txs: z.boolean().optional(),
    })
    .default({ host: '127.0.0.1', port: 7000, bootstrap: [], target_peers: 8 }),
  api: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8545),
      token: z.string().min(16, 'at least 16 characters').optional(),
      public_url: z.string().url().optional(),
      cors: z.array(z.string()).default([]),
    })
    .default({ host: '127.0.0.1', port: 8545, cors: [] }),
  ingest: z
    .strictObject({
      inbox: z.string().default('inbox'),
      include: z.array(z.string()).default(['**/*']),
      exclude: z.array(z.string()).default([]),
      max_file_bytes: z.number().int().positive().optional(),
      line_mode: z.array(z.string()).default([]),
      stable_ms: z.number().int().min(0).default(500),
    })
    .default({ inbox: 'inbox', include: ['**/*'], exclude: [], line_mode: [], stable_ms: 500 }),
  // The device ingest API (docs/ingest-protocol.md): TLS 1.3 server, off unless [modules] ingest_api = true.
  ingest_api: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(7443),
      dir: z.string().default('ingest-api'),
      max_connections: z.number().int().min(1).default(1024),
      max_unauthenticated: z.number().int().min(1).default(256),
      max_connections_per_device: z.number().int().min(1).default(4),
      max_unregistered: z.number().int().min(0).default(64),
      max_frame_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
      max_batch: z.number().int().min(1).default(256),
      max_in_flight: z.number().int().min(1).default(8),
      rate_per_device: z.number().positive().default(5000),
      burst_per_device: z.number().int().min(1).optional(),
      hello_timeout_ms: z.number().int().min(100).default(10_000),
      idle_timeout_ms: z.number().int().min(100).default(120_000),
      write_buffer_bytes: z.number().int().min(1024).default(1024 * 1024),
      slow_reader_ms: z.number().int().min(100).default(30_000),
    })
    .prefault({}),
  producer: z
    .strictObject({
      empty_blocks: z.boolean().default(false),
      max_txs_per_block: z.number().int().positive().default(50_000),
      max_block_payload_mib: z.number().int().positive().default(256),
    })
    .default({ empty_blocks: false, max_txs_per_block: 50_000, max_block_payload_mib: 256 }),
  store: z
    .strictObject({
      retention: z.union([z.enum(['all', 'none']), z.array(retentionRule)]).optional(),
      confirmations: z.number().int().min(1).default(1),
    })
    .default({ confirmations: 1 }),
  /** Partner networks this node witnesses (DESIGN §11; @profichain/global parsePartner checks each). */
  partners: z.array(z.record(z.string(), z.unknown())).default([]),
  /** Outside C2SP witnesses asked to cosign this network's checkpoints (also <dataDir>/witnesses.json). */
  witnesses: z.array(z.strictObject({ url: z.string().url(), vkey: z.string() })).default([]),
  // Global network (DESIGN §11): the MQTT broker where partner networks meet, and this node's HPKE key.
  broker: z
    .strictObject({
      url: z.string().regex(/^(mqtts?|wss?):\/\/\S+$/, 'an mqtt://, mqtts://, ws:// or wss:// URL').optional(),
      ca: z.string().optional(),
      hpke_key: z.string().default('hpke.key'),
    })
    .default({ hpke_key: 'hpke.key' }),
  // Public anchoring (DESIGN §13, docs/anchoring.md): the latest checkpoint into an Ethereum tx at an interval.
  anchor: z
    .strictObject({
      rpc_url: z.string().regex(/^https?:\/\/\S+$/, 'an http:// or https:// JSON-RPC URL').optional(),
      key_file: z.string().default('anchor.key'),
      interval_s: z.number().positive().default(600),
      confirmations: z.number().int().min(1).max(1000).default(12),
      gas_limit: z.number().int().min(25_096).max(1_000_000).default(60_000),
      max_fee_gwei: z.number().positive().default(500),
    })
    .default({ key_file: 'anchor.key', interval_s: 600, confirmations: 12, gas_limit: 60_000, max_fee_gwei: 500 }),
  processing: z.strictObject({ threads: z.number().int().min(0).max(64).default(2) }).default({ threads: 2 }),
  log: z
    .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') })
    .default({ level: 'info' }),
})

export type RawConfig = z.infer<typeof schema>

/** A validated config with absolute paths and the module switches resolved. */
export interface NodeConfig extends RawConfig {
  dataDir: string
  /** Absolute paths. */
  paths: { genesis: string; key: string; db: string; inbox: string; ingestApi: string; hpkeKey: string; brokerCa?: string }
  enabled: { producer: boolean; archive: boolean; ingest: boolean; api: boolean; network: boolean; ingestApi: boolean }
}

/** Validate a parsed config object; every problem is named with its path. */
export function parseConfig(raw: unknown, dataDir: string, source = 'config'): NodeConfig {
  const r = schema.safeParse(raw)
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`)
    throw new ConfigError(`${source} is invalid:\n${lines.join('\n')}`, { issues: r.error.issues })
  }
  const c = r.data
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(dataDir, p))
  const preset = TYPE_PRESETS[c.type]
  const loopback = ['127.0.0.1', 'localhost', '::1'].includes(c.api.host)
  if (!loopback && c.api.token === undefined) {
    throw new ConfigError(`${source}: api.host is ${c.api.host}, which is not loopback: set api.token (a bearer token) to expose the API`)
  }
  return {
    ...c,
    dataDir,
    paths: {
      genesis: abs(c.genesis),
      key: abs(c.key),
      db: abs(c.db),
      inbox: abs(c.ingest.inbox),
      ingestApi: abs(c.ingest_api.dir),
      hpkeKey: abs(c.broker.hpke_key),
      ...(c.broker.ca !== undefined ? { brokerCa: abs(c.broker.ca) } : {}),
    },
    enabled: {
      producer: c.modules.producer ?? preset.producer,
      archive: c.modules.archive ?? preset.archive,
      ingest: c.modules.ingest ?? true,
      api: c.modules.api ?? true,
      network: c.modules.network ?? true,
      ingestApi: c.modules.ingest_api ?? false,
    },
  }
}

/** A TOML syntax error as `file:line:column: what`, with the offending lines and a caret below. */
function tomlError(file: string, err: unknown): ConfigError {
  const first = (err as Error).message.split('\n')[0].replace(/^Invalid TOML document:\s*/, '')
  if (!(err instanceof TomlError)) return new ConfigError(`${file} is not valid TOML: ${first}`)
  const block = err.codeblock ? `\n${err.codeblock.replace(/\n+$/, '')}` : ''
  return new ConfigError(`${file}:${err.line}:${err.column}: not valid TOML: ${first} (line ${err.line}, column ${err.column})${block}`, {
    line: err.line,
    column: err.column,
  })
}

/** Read `<dataDir>/config.toml` (or the given file) and validate it. */
export async function loadConfig(file: string): Promise<NodeConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ConfigError(
      code === 'ENOENT' ? `no config at ${file}: run "profichain init --data-dir ${dirname(file)}" first` : `cannot read ${file}: ${(err as Error).message}`,
    )
  }
  let raw: unknown
  try {
    raw = parseToml(text)
  } catch (err) {
    throw tomlError(file, err)
  }
  return parseConfig(raw, dirname(resolve(file)), file)
}
