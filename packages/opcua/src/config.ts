import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { z } from 'zod'
import { SECURITY_MODES, SECURITY_POLICIES, type ServerConfig } from './bridge.js'
import { OpcuaError } from './errors.js'

const item = z
  .object({
    node_id: z.string().min(1),
    name: z.string().min(1).optional(),
    sampling_interval_ms: z.number().min(0).max(3_600_000).optional(),
    publishing_interval_ms: z.number().min(1).max(3_600_000).optional(),
    queue_size: z.number().int().min(1).max(100_000).optional(),
  })
  .strict()

const server = z
  .object({
    name: z.string().min(1).optional(),
    endpoint_url: z.string().regex(/^opc\.tcp:\/\//, 'must start with opc.tcp://'),
    security_mode: z.enum(SECURITY_MODES).default('None'),
    security_policy: z.enum(SECURITY_POLICIES).default('None'),
    user: z.string().optional(),
    password: z.string().optional(),
    user_certificate_file: z.string().optional(),
    user_private_key_file: z.string().optional(),
    items: z.array(item).min(1),
  })
  .strict()

const files = z
  .object({
    kind: z.literal('files'),
    inbox: z.string().min(1),
    rotate_max_bytes: z.number().int().min(1024).max(1 << 30).default(4 * 1024 * 1024),
    rotate_max_ms: z.number().int().min(10).max(3_600_000).default(1000),
    rotate_max_lines: z.number().int().min(1).max(10_000_000).default(10_000),
  })
  .strict()

const api = z
  .object({
    kind: z.literal('ingest-api'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    fingerprint: z.string().min(64),
    network: z.string().min(1),
    device_key: z.string().min(1),
    spool_dir: z.string().min(1),
  })
  .strict()

const schema = z
  .object({
    publisher_id: z.string().min(1).max(128),
    samples_per_record: z.number().int().min(1).max(10_000).default(10),
    max_record_delay_ms: z.number().int().min(1).max(3_600_000).default(1000),
    state_dir: z.string().min(1).default('opcua-state'),
    pki_dir: z.string().min(1).optional(),
    output: z.discriminatedUnion('kind', [files, api]),
    servers: z.array(server).min(1),
  })
  .strict()

export type BridgeConfig = {
  publisherId: string
  samplesPerRecord: number
  maxRecordDelayMs: number
  stateDir: string
  pkiDir?: string
  output:
    | { kind: 'files'; inbox: string; rotate: { maxBytes: number; maxMs: number; maxLines: number } }
    | { kind: 'ingest-api'; host: string; port: number; fingerprint: string; network: string; deviceKey: string; spoolDir: string }
  servers: ServerConfig[]
}

/** Validate a parsed `opcua.toml` (paths relative to `baseDir`). */
export function parseBridgeConfig(raw: unknown, baseDir: string, source = 'opcua config'): BridgeConfig {
  const r = schema.safeParse(raw)
  if (!r.success) {
    const i = r.error.issues[0]
    throw new OpcuaError('ERR_OPCUA_CONFIG', `${source}: ${i.path.join('.') || '(top)'}: ${i.message}`)
  }
  const c = r.data
  const p = (x: string) => resolve(baseDir, x)
  const servers: ServerConfig[] = c.servers.map((s) => {
    if ((s.user_certificate_file === undefined) !== (s.user_private_key_file === undefined)) {
      throw new OpcuaError('ERR_OPCUA_CONFIG', `${source}: server ${s.endpoint_url}: give both user_certificate_file and user_private_key_file`)
    }
    if ((s.security_mode === 'None') !== (s.security_policy === 'None')) {
      throw new OpcuaError('ERR_OPCUA_CONFIG', `${source}: server ${s.endpoint_url}: security_mode and security_policy must both be None or both be set`)
    }
    return {
      ...(s.name ? { name: s.name } : {}),
      endpointUrl: s.endpoint_url,
      securityMode: s.security_mode,
      securityPolicy: s.security_policy,
      ...(s.user !== undefined ? { user: s.user, password: s.password ?? '' } : {}),
      ...(s.user_certificate_file ? { userCertificateFile: p(s.user_certificate_file), userPrivateKeyFile: p(s.user_private_key_file!) } : {}),
      items: s.items.map((it) => ({
        nodeId: it.node_id,
        ...(it.name ? { name: it.name } : {}),
        ...(it.sampling_interval_ms !== undefined ? { samplingIntervalMs: it.sampling_interval_ms } : {}),
        ...(it.publishing_interval_ms !== undefined ? { publishingIntervalMs: it.publishing_interval_ms } : {}),
        ...(it.queue_size !== undefined ? { queueSize: it.queue_size } : {}),
      })),
    }
  })
  const o = c.output
  return {
    publisherId: c.publisher_id,
    samplesPerRecord: c.samples_per_record,
    maxRecordDelayMs: c.max_record_delay_ms,
    stateDir: p(c.state_dir),
    ...(c.pki_dir ? { pkiDir: p(c.pki_dir) } : {}),
    output:
      o.kind === 'files'
        ? { kind: 'files', inbox: p(o.inbox), rotate: { maxBytes: o.rotate_max_bytes, maxMs: o.rotate_max_ms, maxLines: o.rotate_max_lines } }
        : { kind: 'ingest-api', host: o.host, port: o.port, fingerprint: o.fingerprint, network: o.network, deviceKey: p(o.device_key), spoolDir: p(o.spool_dir) },
    servers,
  }
}

/** Read and validate `opcua.toml`. */
export async function loadBridgeConfig(file: string): Promise<BridgeConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new OpcuaError('ERR_OPCUA_CONFIG', `cannot read ${file}: ${(err as Error).message}`)
  }
  let raw: unknown
  try {
    raw = parseToml(text)
  } catch (err) {
    throw new OpcuaError('ERR_OPCUA_CONFIG', `${file} is not valid TOML: ${(err as Error).message}`)
  }
  return parseBridgeConfig(raw, dirname(resolve(file)), file)
}
