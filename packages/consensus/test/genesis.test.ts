import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { blockHash, EMPTY_ROOT, toHex, ZERO_HASH } from '@profichain/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createGenesis,
  GenesisError,
  genesisBlock,
  genesisConfigHash,
  genesisHash,
  loadGenesis,
  parseGenesis,
  serializeGenesis,
  validatorKeys,
} from '../src/index.js'
import { key, T0 } from './helpers.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const C = 'c'.repeat(64)
const base = {
  version: 1,
  network: 'acme-line-1',
  timestamp: T0,
  members: [
    { name: 'press-1', publicKey: A, roles: ['validator', 'full'] },
    { name: 'press-2', publicKey: B, roles: ['validator'] },
    { name: 'sensor', publicKey: C, roles: ['thin'], addrs: ['/ip4/10.0.0.5/tcp/7001'] },
  ],
  validators: [A, B],
}
const m = base.members

/** [description, genesis JSON, expected substrings of the message (field path first)]. */
const BAD: Array<[string, unknown, string[]]> = [
  ['not an object', 42, ['genesis:', 'expected an object, got 42']],
  [
    'bad validator key',
    { ...base, validators: [A, 'abc'] },
    ['genesis.validators[1]: "abc" is not a 64-hex Ed25519 public key'],
  ],
  [
    'bad member key',
    { ...base, members: [{ ...m[0], publicKey: 'xyz' }, m[1], m[2]] },
    ['genesis.members[0].publicKey: "xyz" is not a 64-hex'],
  ],
  [
    'bad network id',
    { ...base, network: 'Acme Line' },
    ['genesis.network: "Acme Line" is not a valid network id'],
  ],
  ['missing network', { ...base, network: undefined }, ['genesis.network', 'got nothing']],
  ['missing timestamp', { ...base, timestamp: undefined }, ['genesis.timestamp: is required']],
  ['fractional timestamp', { ...base, timestamp: 1.5 }, ['genesis.timestamp: 1.5 is not a timestamp']],
  ['version 2', { ...base, version: 2 }, ['genesis.version: unsupported genesis version 2']],
  ['unknown field', { ...base, blocktimeMs: 1000 }, ['genesis.blocktimeMs: unknown field']],
  [
    'unknown member field',
    { ...base, members: [{ ...m[0], role: 'x' }, m[1], m[2]] },
    ['genesis.members[0].role: unknown field'],
  ],
  [
    'unknown role',
    { ...base, members: [m[0], { ...m[1], roles: ['validator', 'king'] }, m[2]] },
    ['genesis.members[1].roles[1]: "king" is not a role'],
  ],
  [
    'no roles',
    { ...base, members: [m[0], m[1], { ...m[2], roles: [] }] },
    ['genesis.members[2].roles: a member needs at least one role'],
  ],
  [
    'bad addr',
    { ...base, members: [m[0], m[1], { ...m[2], addrs: ['10.0.0.5:7001'] }] },
    ['genesis.members[2].addrs[0]: "10.0.0.5:7001" is not a multiaddr'],
  ],
  [
    'no members',
    { ...base, members: [], validators: [] },
    ['genesis.members: at least one member is required'],
  ],
  [
    'duplicate name',
    { ...base, members: [m[0], { ...m[1], name: 'press-1' }, m[2]] },
    ['genesis.members[1].name: duplicate member name "press-1"'],
  ],
  [
    'duplicate key',
    { ...base, members: [m[0], m[1], { ...m[2], publicKey: A }] },
    [`genesis.members[2].publicKey: duplicate public key ${A}`],
  ],
  ['duplicate validator', { ...base, validators: [A, B, A] }, ['genesis.validators[2]: duplicate validator']],
  [
    'validator not a member',
    { ...base, validators: [A, B, 'd'.repeat(64)] },
    ['genesis.validators[2]:', 'is not the public key of any member'],
  ],
  [
    'validator without the role',
    { ...base, validators: [A, B, C] },
    ['genesis.validators[2]: member "sensor" (members[2]) does not have the role "validator"'],
  ],
  [
    'validator role but unlisted',
    { ...base, validators: [A] },
    ['genesis.members[1].roles: member "press-2" has the role "validator" but is not listed'],
  ],
  [
    'no validators for authority',
    { ...base, members: [m[2]], validators: [] },
    ['genesis.validators: consensus "authority" needs at least one validator'],
  ],
  [
    'block time too short',
    { ...base, blockTimeMs: 49 },
    ['genesis.blockTimeMs: 49 is not a block time in ms (expected an integer ≥ 50)'],
  ],
  [
    'tx larger than block',
    { ...base, maxBlockBytes: 1_000_000, maxTxBytes: 2_000_000 },
    ['genesis.maxTxBytes: 2000000 exceeds maxBlockBytes (1000000)'],
  ],
  [
    'block too small',
    { ...base, maxBlockBytes: 100 },
    ['genesis.maxBlockBytes: 100 is not a block size limit'],
  ],
  [
    'unknown consensus',
    { ...base, consensus: { type: 'raft' } },
    ['genesis.consensus.type: "raft" is not a known consensus type'],
  ],
  [
    'negative back-off',
    { ...base, consensus: { type: 'authority', backoffMs: -5 } },
    ['genesis.consensus.backoffMs: -5 is not a back-off'],
  ],
  [
    'threshold too low',
    { ...base, consensus: { type: 'quorum', threshold: 1 } },
    ['genesis.consensus.threshold: 1 is not a safe threshold for 2 validators'],
  ],
  [
    'threshold too high',
    { ...base, consensus: { type: 'quorum', threshold: 3 } },
    ['genesis.consensus.threshold: 3 is not a safe threshold'],
  ],
  [
    'min > max difficulty',
    { ...base, consensus: { type: 'work', minDifficulty: 9, maxDifficulty: 4 } },
    ['genesis.consensus.minDifficulty: 9 is greater than maxDifficulty (4)'],
  ],
  [
    'initial outside range',
    { ...base, consensus: { type: 'work', initialDifficulty: 30, maxDifficulty: 20 } },
    ['genesis.consensus.initialDifficulty: 30 is outside'],
  ],
  [
    'difficulty > 256',
    { ...base, consensus: { type: 'work', initialDifficulty: 300 } },
    ['genesis.consensus.initialDifficulty: 300 is not a difficulty'],
  ],
  [
    'zero retarget interval',
    { ...base, consensus: { type: 'work', retargetInterval: 0 } },
    ['genesis.consensus.retargetInterval: 0 is not a retarget interval'],
  ],
  [
    'unknown consensus field',
    { ...base, consensus: { type: 'authority', threshold: 2 } },
    ['genesis.consensus.threshold: unknown field'],
  ],
  [
    'work without miners',
    { ...base, members: [m[2]], validators: [], consensus: { type: 'work' } },
    ['genesis.members: consensus "work" needs at least one member with the role "producer"'],
  ],
]

describe('parseGenesis', () => {
  it.each(BAD)('rejects: %s', (_name, json, parts) => {
    let err: unknown
    try {
      parseGenesis(json, 'genesis.json')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(GenesisError)
    const e = err as GenesisError
    expect(e.code).toBe('ERR_GENESIS')
    expect(e.message).toContain('genesis.json')
    for (const p of parts) expect(e.message).toContain(p)
    expect(e.meta.issues).toBeInstanceOf(Array)
  })

  it('reports every problem at once', () => {
    expect(() => parseGenesis({ ...base, network: 'X', blockTimeMs: 1, extra: true })).toThrow(
      /3 problems[\s\S]*genesis.network[\s\S]*genesis.blockTimeMs[\s\S]*genesis.extra/,
    )
  })

  it('fills in defaults and normalises keys to lowercase', () => {
    const g = parseGenesis({ ...base, version: undefined, validators: [A.toUpperCase(), B] })
    expect(g.version).toBe(1)
    expect(g.validators[0]).toBe(A)
    expect(g.consensus).toEqual({ type: 'authority', backoffMs: 1000 })
    expect(g.blockTimeMs).toBe(2000)
    expect(g.maxTxBytes).toBeLessThanOrEqual(g.maxBlockBytes)
    const q = parseGenesis({ ...base, blockTimeMs: 300, consensus: { type: 'quorum' } })
    expect(q.consensus).toEqual({ type: 'quorum', threshold: 2, backoffMs: 150 })
    const w = parseGenesis({ ...base, consensus: { type: 'work', initialDifficulty: 8 } })
    expect(w.consensus).toEqual({
      type: 'work',
      initialDifficulty: 8,
      retargetInterval: 10,
      minDifficulty: 1,
      maxDifficulty: 64,
    })
    const small = parseGenesis({ ...base, maxBlockBytes: 1_000_000 })
    expect(small.maxTxBytes).toBe(1_000_000)
  })
})

describe('loadGenesis', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'profichain-genesis-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('names the file when it is missing', async () => {
    const p = join(dir, 'missing.json')
    await expect(loadGenesis(p)).rejects.toThrow(new RegExp(`cannot read genesis file ${p}`))
  })

  it('names the file when it is not JSON', async () => {
    const p = join(dir, 'bad.json')
    await writeFile(p, '{ "network": ')
    await expect(loadGenesis(p)).rejects.toMatchObject({
      name: 'GenesisError',
      message: expect.stringContaining(`genesis file ${p} is not valid JSON`),
    })
  })

  it('names the file and field when invalid, and round-trips a valid one', async () => {
    const bad = join(dir, 'invalid.json')
    await writeFile(bad, JSON.stringify({ ...base, blockTimeMs: 5 }))
    await expect(loadGenesis(bad)).rejects.toThrow(`invalid genesis in ${bad}: genesis.blockTimeMs: 5`)
    const g = createGenesis({ network: 'dev', validators: [key(1), key(2), key(3)], timestamp: T0 })
    const good = join(dir, 'good.json')
    await writeFile(good, serializeGenesis(g))
    expect(await loadGenesis(good)).toEqual(g)
  })
})

describe('createGenesis and the genesis block', () => {
  it('adds validators as members and validates', () => {
    const g = createGenesis({
      network: 'dev',
      validators: [key(1), toHex(key(2).publicKey).toUpperCase()],
      members: [{ name: 'archive', publicKey: toHex(key(3).publicKey), roles: ['archive'] }],
      timestamp: T0,
      consensus: { type: 'quorum' },
      blockTimeMs: 500,
    })
    expect(g.members.map((x) => x.name)).toEqual(['archive', 'validator-0', 'validator-1'])
    expect(g.validators).toEqual([toHex(key(1).publicKey), toHex(key(2).publicKey)])
    expect(g.consensus).toEqual({ type: 'quorum', threshold: 2, backoffMs: 250 })
    expect(validatorKeys(g)).toEqual([key(1).publicKey, key(2).publicKey])
    expect(() => createGenesis({ network: 'dev', validators: [key(1)], blockTimeMs: 10 })).toThrow(
      GenesisError,
    )
  })

  it('the genesis block is deterministic', () => {
    const g = createGenesis({ network: 'dev', validators: [key(1)], timestamp: T0 })
    const b = genesisBlock(g)
    expect(b.header).toMatchObject({
      height: 0,
      timestamp: T0,
      prevHash: ZERO_HASH,
      merkleRoot: genesisConfigHash(g),
      txCount: 0,
      difficulty: 0,
      nonce: 0,
      signatures: [],
    })
    expect(b.header.producer).toEqual(new Uint8Array(32))
    expect(b.txs).toEqual([])
    expect(genesisHash(g)).toEqual(
      blockHash(genesisBlock(parseGenesis(JSON.parse(serializeGenesis(g)))).header),
    )
    expect(genesisHash({ ...g, timestamp: T0 + 1 })).not.toEqual(genesisHash(g))
    expect(genesisHash({ ...g, network: 'dev2' })).not.toEqual(genesisHash(g))
    // Layout 2: the genesis hash commits to the whole genesis (block 0's Merkle root is the genesis digest).
    const other = createGenesis({ network: 'dev', validators: [key(2)], timestamp: T0 })
    expect(genesisHash(other)).not.toEqual(genesisHash(g))
    expect(genesisConfigHash(other)).not.toEqual(genesisConfigHash(g))
    expect(genesisHash({ ...g, origin: 'acme.example/p' })).not.toEqual(genesisHash(g))
    expect(genesisHash({ ...g, checkpoint: { depth: 9, intervalMs: 2000 } })).not.toEqual(genesisHash(g))
    expect(genesisHash({ ...g, blockTimeMs: g.blockTimeMs + 1 })).not.toEqual(genesisHash(g))
    expect(EMPTY_ROOT).not.toEqual(b.header.merkleRoot)
  })
})

describe('network identity (layout 2, docs/protocol.md "Network identity")', () => {
  it('block 0 commits to the canonical genesis encoding: the documented vector', async () => {
    const { keyPairFromSeed, sha256, utf8 } = await import('@profichain/core')
    const seed = new Uint8Array(32)
    seed[0] = 1
    const g = createGenesis({
      network: 'vector',
      validators: [keyPairFromSeed(seed)],
      timestamp: 1_700_000_000_000,
      blockTimeMs: 1000,
      origin: 'acme.example/profichain/plant-1',
    })
    const bytes = utf8(serializeGenesis(g))
    expect(bytes.byteLength).toBe(634)
    expect(toHex(sha256(bytes))).toBe('5d97d167cbaa8906cdc341e15e44ecc3f533b9facd1aa969d71ba893ae6df3d6')
    expect(toHex(genesisBlock(g).header.merkleRoot)).toBe(toHex(sha256(bytes)))
    expect(toHex(genesisHash(g))).toBe('01b08de5fb3b91cc7e2feaae04c28860e52629a54c4bb10b69b400490e7f7831')
  })

  it('origin: default from the network id, validated as a schema-less URL; checkpoint defaults per consensus', () => {
    const g = createGenesis({ network: 'plant', validators: [key(1)], timestamp: T0 })
    expect(g.origin).toBe('profichain.invalid/plant')
    expect(g.checkpoint).toEqual({ depth: 3, intervalMs: 2000 })
    const w = createGenesis({ network: 'plant', validators: [key(1)], timestamp: T0, consensus: { type: 'work' } })
    expect(w.checkpoint.depth).toBe(6)
    const o = createGenesis({ network: 'plant', validators: [key(1)], timestamp: T0, origin: 'acme.example:8443/p/plant-1', checkpoint: { depth: 1, intervalMs: 500 } })
    expect(o.origin).toBe('acme.example:8443/p/plant-1')
    expect(parseGenesis(JSON.parse(serializeGenesis(o)))).toEqual(o)
    for (const bad of ['https://acme.example/p', 'acme example', 'acme.example/a+b', 'Acme.example', '', 'a'.repeat(256)])
      expect(() => createGenesis({ network: 'plant', validators: [key(1)], timestamp: T0, origin: bad }), bad).toThrow(/genesis\.origin/)
    expect(() => createGenesis({ network: 'plant', validators: [key(1)], timestamp: T0, checkpoint: { depth: 0 } })).toThrow(/genesis\.checkpoint\.depth/)
    expect(() => createGenesis({ network: 'plant', validators: [key(1)], timestamp: T0, checkpoint: { intervalMs: 5 } })).toThrow(/genesis\.checkpoint\.intervalMs/)
  })
})
