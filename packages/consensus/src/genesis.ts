import { readFile } from 'node:fs/promises'
import {
  type Block,
  blockHash,
  createBlock,
  fromHex,
  type KeyPair,
  LIMITS,
  sha256,
  toHex,
  utf8,
  ZERO_HASH,
} from '@profichain/core'
import { z } from 'zod'
import { GenesisError } from './errors.js'
import type { ConsensusParams, Genesis, GenesisMember } from './types.js'

/** Roles a member may hold (DESIGN §2 node types plus 'validator'). */
export const MEMBER_ROLES = ['validator', 'producer', 'archive', 'full', 'thin'] as const
export type MemberRole = (typeof MEMBER_ROLES)[number]

export const NETWORK_ID_RE = /^[a-z0-9][a-z0-9-]{0,63}$/
const MEMBER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const PUBLIC_KEY_RE = /^[0-9a-fA-F]{64}$/

/** Smallest block time we accept: below it timers and gossip latency dominate and forks multiply. */
export const MIN_BLOCK_TIME_MS = 50
/** Smallest maxBlockBytes: a header with a full signature set must fit. */
export const MIN_BLOCK_BYTES = 32 * 1024

export const GENESIS_DEFAULTS = {
  blockTimeMs: 2000,
  /** Block log (DESIGN §11): blocks this deep enter the log (authority, work); checkpoints at most this often. */
  checkpoint: { depth: 3, workDepth: 6, intervalMs: 2000 },
  maxBlockBytes: 16 * 1024 * 1024,
  maxTxBytes: 16 * 1024 * 1024,
  work: { initialDifficulty: 16, retargetInterval: 10, minDifficulty: 1, maxDifficulty: 64 },
} as const

function show(v: unknown): string {
  if (v === undefined) return 'nothing'
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v)
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v)
  if (Array.isArray(v)) return 'an array'
  return `a ${typeof v}`
}

const intIn = (what: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.unknown().check((ctx) => {
    const v = ctx.value
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in ${min}..${max}`
      const message =
        v === undefined
          ? `is required (${what}: an integer ${range})`
          : `${show(v)} is not ${what} (expected an integer ${range})`
      ctx.issues.push({ code: 'custom', input: v, message })
    }
  }) as unknown as z.ZodType<number>

/**
 * A log origin (c2sp.org/tlog-checkpoint): a schema-less URL such as `acme.example/profichain/plant-1`. Also the
 * note key name of the network's checkpoint signatures, so no whitespace and no '+'.
 */
export const ORIGIN_RE = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?(\/[A-Za-z0-9._~-]+)*$/
export const MAX_ORIGIN_LENGTH = 255

/** The origin a genesis without one gets: derived from the network id (set a real one with `init --origin`). */
export function defaultOrigin(network: string): string {
  return `profichain.invalid/${network}`
}

const publicKeyHex = z
  .string({ error: (iss) => `${show(iss.input)} is not a 64-hex Ed25519 public key` })
  .regex(PUBLIC_KEY_RE, { error: (iss) => `${show(iss.input)} is not a 64-hex Ed25519 public key` })
  .transform((s) => s.toLowerCase())

const memberSchema = z.strictObject({
  name: z
    .string({ error: (iss) => `member name must be a string, got ${show(iss.input)}` })
    .regex(MEMBER_NAME_RE, {
      error: (iss) =>
        `${show(iss.input)} is not a valid member name (1-64 chars: letters, digits, '.', '_', '-', starting with a letter or digit)`,
    }),
  publicKey: publicKeyHex,
  roles: z
    .array(
      z.string().refine((r) => (MEMBER_ROLES as readonly string[]).includes(r), {
        error: (iss) =>
          `${show(iss.input)} is not a role (expected one of ${MEMBER_ROLES.map((r) => `"${r}"`).join(', ')})`,
      }),
    )
    .min(1, { error: 'a member needs at least one role' }),
  addrs: z
    .array(
      z.string().startsWith('/', {
        error: (iss) => `${show(iss.input)} is not a multiaddr (e.g. /ip4/10.0.0.5/tcp/7001)`,
      }),
    )
    .optional(),
})

const consensusSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('authority'), backoffMs: intIn('a back-off in ms', 0).optional() }),
  z.strictObject({
    type: z.literal('work'),
    initialDifficulty: intIn('a difficulty in leading zero bits', 0, 256).optional(),
    retargetInterval: intIn('a retarget interval in blocks', 1).optional(),
    minDifficulty: intIn('a difficulty in leading zero bits', 0, 256).optional(),
    maxDifficulty: intIn('a difficulty in leading zero bits', 0, 256).optional(),
  }),
  z.strictObject({
    type: z.literal('quorum'),
    threshold: intIn('a signature threshold', 1).optional(),
    backoffMs: intIn('a back-off in ms', 0).optional(),
  }),
])

const genesisSchema = z.strictObject({
  version: z
    .literal(1, {
      error: (iss) => `unsupported genesis version ${show(iss.input)} (this software reads version 1)`,
    })
    .default(1),
  network: z
    .string({ error: (iss) => `network id must be a string, got ${show(iss.input)}` })
    .regex(NETWORK_ID_RE, {
      error: (iss) =>
        `${show(iss.input)} is not a valid network id (1-64 chars of a-z, 0-9 and '-', starting with a letter or digit)`,
    }),
  timestamp: intIn('a timestamp in ms since the epoch', 0),
  members: z.array(memberSchema).min(1, { error: 'at least one member is required' }),
  validators: z.array(publicKeyHex).max(LIMITS.signaturesPerHeader, {
    error: `at most ${LIMITS.signaturesPerHeader} validators are supported`,
  }),
  consensus: consensusSchema.optional(),
  blockTimeMs: intIn('a block time in ms', MIN_BLOCK_TIME_MS).optional(),
  maxBlockBytes: intIn('a block size limit in bytes', MIN_BLOCK_BYTES).optional(),
  maxTxBytes: intIn('a payload size limit in bytes', 1, LIMITS.payloadBytes).optional(),
  origin: z
    .string({ error: (iss) => `origin must be a string, got ${show(iss.input)}` })
    .max(MAX_ORIGIN_LENGTH, { error: `origin is longer than ${MAX_ORIGIN_LENGTH} characters` })
    .regex(ORIGIN_RE, {
      error: (iss) =>
        `${show(iss.input)} is not a log origin (a schema-less URL such as "acme.example/profichain/plant-1": lower-case host, optional :port and /path, no scheme, no spaces, no '+')`,
    })
    .optional(),
  checkpoint: z
    .strictObject({
      depth: intIn('a depth in blocks', 1, 1_000_000).optional(),
      intervalMs: intIn('a checkpoint interval in ms', 100, 86_400_000).optional(),
    })
    .optional(),
})

type Issue = { path: PropertyKey[]; message: string }

/** `genesis.members[1].publicKey` style path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = 'genesis'
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `.${String(p)}`
  return out
}

function describeIssue(iss: z.core.$ZodIssue): Issue[] {
  const input = (iss as { input?: unknown }).input
  switch (iss.code) {
    case 'invalid_type': {
      if (iss.message && !iss.message.startsWith('Invalid input'))
        return [{ path: iss.path, message: iss.message }]
      const expected =
        iss.expected === 'int'
          ? 'an integer'
          : iss.expected === 'array' || iss.expected === 'object'
            ? `an ${iss.expected}`
            : `a ${iss.expected}`
      return [
        {
          path: iss.path,
          message:
            input === undefined
              ? `is required (expected ${expected})`
              : `expected ${expected}, got ${show(input)}`,
        },
      ]
    }
    case 'unrecognized_keys':
      return iss.keys.map((k) => ({ path: [...iss.path, k], message: 'unknown field (check its spelling)' }))
    case 'invalid_union': {
      const disc = (iss as { discriminator?: string; options?: unknown[] }).discriminator
      if (disc !== undefined) {
        const opts = ((iss as { options?: unknown[] }).options ?? []).map((o) => JSON.stringify(o)).join(', ')
        const v =
          input !== null && typeof input === 'object' ? (input as Record<string, unknown>)[disc] : undefined
        return [
          { path: iss.path, message: `${show(v)} is not a known consensus type (expected one of ${opts})` },
        ]
      }
      return [{ path: iss.path, message: iss.message }]
    }
    default:
      return [{ path: iss.path, message: iss.message }]
  }
}

function fail(issues: Issue[], source?: string): never {
  const lines = issues.map((i) => `${formatPath(i.path)}: ${i.message}`)
  const where = source ? ` in ${source}` : ''
  const head =
    issues.length === 1
      ? `invalid genesis${where}: `
      : `invalid genesis${where} (${issues.length} problems):\n  `
  throw new GenesisError(head + lines.join('\n  '), {
    issues: issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    source,
  })
}

/** Validate a parsed genesis JSON value and fill in defaults; throws GenesisError naming every bad field. */
export function parseGenesis(json: unknown, source?: string): Genesis {
  const r = genesisSchema.safeParse(json, { reportInput: true })
  if (!r.success) fail(r.error.issues.flatMap(describeIssue), source)
  const g = r.data
  const issues: Issue[] = []
  const blockTimeMs = g.blockTimeMs ?? GENESIS_DEFAULTS.blockTimeMs
  const maxBlockBytes = g.maxBlockBytes ?? GENESIS_DEFAULTS.maxBlockBytes
  const maxTxBytes = g.maxTxBytes ?? Math.min(GENESIS_DEFAULTS.maxTxBytes, maxBlockBytes)

  const names = new Map<string, number>()
  const keys = new Map<string, number>()
  g.members.forEach((m, i) => {
    const n = names.get(m.name)
    if (n !== undefined)
      issues.push({
        path: ['members', i, 'name'],
        message: `duplicate member name "${m.name}" (also members[${n}])`,
      })
    else names.set(m.name, i)
    const k = keys.get(m.publicKey)
    if (k !== undefined)
      issues.push({
        path: ['members', i, 'publicKey'],
        message: `duplicate public key ${m.publicKey} (also members[${k}])`,
      })
    else keys.set(m.publicKey, i)
    const roles = new Set<string>()
    m.roles.forEach((role, j) => {
      if (roles.has(role))
        issues.push({ path: ['members', i, 'roles', j], message: `duplicate role "${role}"` })
      roles.add(role)
    })
  })
  const seenValidators = new Map<string, number>()
  g.validators.forEach((v, i) => {
    const prev = seenValidators.get(v)
    if (prev !== undefined)
      issues.push({ path: ['validators', i], message: `duplicate validator ${v} (also validators[${prev}])` })
    seenValidators.set(v, i)
    const mi = keys.get(v)
    if (mi === undefined)
      issues.push({ path: ['validators', i], message: `${v} is not the public key of any member` })
    else if (!g.members[mi].roles.includes('validator')) {
      issues.push({
        path: ['validators', i],
        message: `member "${g.members[mi].name}" (members[${mi}]) does not have the role "validator"`,
      })
    }
  })
  g.members.forEach((m, i) => {
    if (m.roles.includes('validator') && !seenValidators.has(m.publicKey)) {
      issues.push({
        path: ['members', i, 'roles'],
        message: `member "${m.name}" has the role "validator" but is not listed in genesis.validators`,
      })
    }
  })
  if (maxTxBytes > maxBlockBytes) {
    issues.push({
      path: ['maxTxBytes'],
      message: `${maxTxBytes} exceeds maxBlockBytes (${maxBlockBytes}): such a payload's tx could never fit in a block`,
    })
  }

  const c = g.consensus ?? { type: 'authority' as const }
  const n = g.validators.length
  let consensus: ConsensusParams
  const needValidators = () => {
    if (n === 0)
      issues.push({ path: ['validators'], message: `consensus "${c.type}" needs at least one validator` })
  }
  switch (c.type) {
    case 'authority':
      needValidators()
      consensus = { type: 'authority', backoffMs: c.backoffMs ?? Math.floor(blockTimeMs / 2) }
      break
    case 'quorum': {
      needValidators()
      const threshold = c.threshold ?? Math.floor(n / 2) + 1
      // More than half: two conflicting blocks can then only both be final if some validator signed both.
      if (n > 0 && (threshold > n || threshold * 2 <= n)) {
        issues.push({
          path: ['consensus', 'threshold'],
          message: `${threshold} is not a safe threshold for ${n} validators (expected ${Math.floor(n / 2) + 1}..${n}: more than half, at most all)`,
        })
      }
      consensus = { type: 'quorum', threshold, backoffMs: c.backoffMs ?? Math.floor(blockTimeMs / 2) }
      break
    }
    case 'work': {
      const d = GENESIS_DEFAULTS.work
      const minDifficulty =
        c.minDifficulty ?? Math.min(d.minDifficulty, c.initialDifficulty ?? d.minDifficulty)
      const maxDifficulty = c.maxDifficulty ?? Math.max(d.maxDifficulty, c.initialDifficulty ?? 0)
      const initialDifficulty =
        c.initialDifficulty ?? Math.min(Math.max(d.initialDifficulty, minDifficulty), maxDifficulty)
      if (minDifficulty > maxDifficulty) {
        issues.push({
          path: ['consensus', 'minDifficulty'],
          message: `${minDifficulty} is greater than maxDifficulty (${maxDifficulty})`,
        })
      } else if (initialDifficulty < minDifficulty || initialDifficulty > maxDifficulty) {
        issues.push({
          path: ['consensus', 'initialDifficulty'],
          message: `${initialDifficulty} is outside minDifficulty..maxDifficulty (${minDifficulty}..${maxDifficulty})`,
        })
      }
      if (!g.members.some((m) => m.roles.includes('producer') || m.roles.includes('validator'))) {
        issues.push({
          path: ['members'],
          message:
            'consensus "work" needs at least one member with the role "producer" or "validator" (nobody could mine)',
        })
      }
      consensus = {
        type: 'work',
        initialDifficulty,
        retargetInterval: c.retargetInterval ?? d.retargetInterval,
        minDifficulty,
        maxDifficulty,
      }
      break
    }
  }
  if (issues.length > 0) fail(issues, source)
  const cp = GENESIS_DEFAULTS.checkpoint
  const checkpoint = {
    depth: g.checkpoint?.depth ?? (consensus.type === 'work' ? cp.workDepth : cp.depth),
    intervalMs: g.checkpoint?.intervalMs ?? cp.intervalMs,
  }

  const members: GenesisMember[] = g.members.map((m) => ({
    name: m.name,
    publicKey: m.publicKey,
    roles: [...m.roles],
    ...(m.addrs ? { addrs: [...m.addrs] } : {}),
  }))
  return {
    version: 1,
    network: g.network,
    timestamp: g.timestamp,
    members,
    validators: [...g.validators],
    consensus,
    blockTimeMs,
    maxBlockBytes,
    maxTxBytes,
    origin: g.origin ?? defaultOrigin(g.network),
    checkpoint,
  }
}

/** Read and validate a genesis file; errors name the file and the bad field. */
export async function loadGenesis(path: string): Promise<Genesis> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new GenesisError(`cannot read genesis file ${path}: ${(err as Error).message}`, {
      source: path,
      cause: (err as NodeJS.ErrnoException).code,
    })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new GenesisError(`genesis file ${path} is not valid JSON: ${(err as Error).message}`, {
      source: path,
    })
  }
  return parseGenesis(json, path)
}

/** The genesis origin (a hand-built Genesis object without one gets the default). */
export function genesisOrigin(g: Genesis): string {
  return (g as Partial<Genesis>).origin ?? defaultOrigin(g.network)
}

/** The genesis block log parameters (a hand-built Genesis object without them gets the defaults). */
export function genesisCheckpoint(g: Genesis): { depth: number; intervalMs: number } {
  const c = (g as Partial<Genesis>).checkpoint
  const d = GENESIS_DEFAULTS.checkpoint
  return {
    depth: c?.depth ?? (g.consensus?.type === 'work' ? d.workDepth : d.depth),
    intervalMs: c?.intervalMs ?? d.intervalMs,
  }
}

/** Pretty, stable JSON of a genesis (fixed key order), ending in a newline. */
export function serializeGenesis(g: Genesis): string {
  const ordered = {
    version: g.version,
    network: g.network,
    timestamp: g.timestamp,
    blockTimeMs: g.blockTimeMs,
    maxBlockBytes: g.maxBlockBytes,
    maxTxBytes: g.maxTxBytes,
    origin: genesisOrigin(g),
    checkpoint: genesisCheckpoint(g),
    consensus: g.consensus,
    validators: g.validators,
    members: g.members.map((m) => ({
      name: m.name,
      publicKey: m.publicKey,
      roles: m.roles,
      ...(m.addrs ? { addrs: m.addrs } : {}),
    })),
  }
  return `${JSON.stringify(ordered, null, 2)}\n`
}

/**
 * SHA-256 of the canonical genesis encoding: the UTF-8 bytes of `serializeGenesis` (every field, defaults
 * filled in, fixed key order, 2-space JSON, final newline). Block 0's Merkle root is this digest, so the
 * genesis hash commits to the whole genesis (docs/protocol.md, "Network identity").
 */
export function genesisConfigHash(g: Genesis): Uint8Array {
  return sha256(utf8(serializeGenesis(g)))
}

/**
 * The deterministic height-0 block: zero prevHash and producer, no txs, no signatures, and as Merkle root the
 * genesis digest (`genesisConfigHash`): two networks whose genesis differs in any field have different hashes.
 */
export function genesisBlock(g: Genesis): Block {
  return createBlock({
    network: g.network,
    height: 0,
    timestamp: g.timestamp,
    prevHash: ZERO_HASH,
    producer: new Uint8Array(32),
    difficulty: 0,
    nonce: 0,
    txs: [],
    merkleRoot: genesisConfigHash(g),
  })
}

/** Hash of the genesis block. */
export function genesisHash(g: Genesis): Uint8Array {
  return blockHash(genesisBlock(g).header)
}

const keyCache = new WeakMap<Genesis, Uint8Array[]>()

/** Validator public keys as bytes, in genesis order (cached per genesis object). */
export function validatorKeys(g: Genesis): Uint8Array[] {
  let keys = keyCache.get(g)
  if (keys === undefined) {
    keys = g.validators.map((v) => fromHex(v))
    keyCache.set(g, keys)
  }
  return keys
}

export interface CreateGenesisInit {
  network: string
  /** Validators in turn order, as key pairs or 64-hex public keys. */
  validators: Array<KeyPair | string>
  /** Further members; validators missing here are added as `validator-<i>` with roles validator + producer. */
  members?: GenesisMember[]
  /** Consensus: type plus optional parameters (defaults filled in by parseGenesis). Default authority. */
  consensus?: { type: ConsensusParams['type'] } & Record<string, unknown>
  blockTimeMs?: number
  maxBlockBytes?: number
  maxTxBytes?: number
  /** Log origin (default derived from the network id, `defaultOrigin`). */
  origin?: string
  /** Block log parameters (defaults in GENESIS_DEFAULTS.checkpoint). */
  checkpoint?: { depth?: number; intervalMs?: number }
  /** Default: now. */
  timestamp?: number
}

/** Build and validate a genesis for a new network (one node or a devnet). */
export function createGenesis(init: CreateGenesisInit): Genesis {
  const validators = init.validators.map((v) =>
    typeof v === 'string' ? v.toLowerCase() : toHex(v.publicKey),
  )
  const members: GenesisMember[] = (init.members ?? []).map((m) => ({
    ...m,
    publicKey: m.publicKey.toLowerCase(),
    roles: [...m.roles],
  }))
  validators.forEach((v, i) => {
    const m = members.find((x) => x.publicKey === v)
    if (m === undefined)
      members.push({ name: `validator-${i}`, publicKey: v, roles: ['validator', 'producer'] })
    else if (!m.roles.includes('validator')) m.roles.push('validator')
  })
  const json: Record<string, unknown> = {
    version: 1,
    network: init.network,
    timestamp: init.timestamp ?? Date.now(),
    members,
    validators,
  }
  if (init.consensus !== undefined) json.consensus = init.consensus
  if (init.blockTimeMs !== undefined) json.blockTimeMs = init.blockTimeMs
  if (init.maxBlockBytes !== undefined) json.maxBlockBytes = init.maxBlockBytes
  if (init.maxTxBytes !== undefined) json.maxTxBytes = init.maxTxBytes
  if (init.origin !== undefined) json.origin = init.origin
  if (init.checkpoint !== undefined) json.checkpoint = init.checkpoint
  return parseGenesis(json)
}
