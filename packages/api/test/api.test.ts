import {
  type Block,
  blockHashHex,
  evaluateChainpoint,
  fromBase64,
  sha256,
  type Transaction,
  toHex,
  txIdHex,
  verifyNativeReceipt,
} from '@profichain/core'
import { getIntrospectionQuery } from 'graphql'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiServer, createApiServer } from '../src/index.js'
import { gql, NETWORK, seedKey, TestChain } from './chain.js'

const A = seedKey(2)
const B = seedKey(3)
const T0 = 1_700_000_000_000

let chain: TestChain
let server: ApiServer
let url: string
const blocks: Block[] = []
const txs: Transaction[] = []
let big: Transaction
let twin: [Transaction, Transaction]

const ids = (list: Array<{ id: string }>) => list.map((n) => n.id)
const code = (body: { errors?: Array<{ extensions?: { code?: string } }> }) =>
  body.errors?.[0]?.extensions?.code

beforeAll(async () => {
  chain = await TestChain.open()
  const b1 = [0, 1, 2].map((i) =>
    chain.tx(A, `a,${i}\n`, {
      timestamp: T0 + i,
      metadata: { source: 'file', path: `in/a${i}.csv`, contentType: 'text/csv' },
    }),
  )
  const b2 = [
    chain.tx(B, 'b-record', { timestamp: T0 + 10 }),
    chain.tx(B, 'b-anchor', { kind: 'anchor', timestamp: T0 + 11 }),
  ]
  big = chain.tx(A, new Uint8Array(100 * 1024).fill(7), {
    timestamp: T0 + 20,
    metadata: { contentType: 'application/octet-stream' },
  })
  const b4 = [0, 1, 2, 3].map((i) =>
    chain.tx(A, `reading ${i}`, {
      timestamp: T0 + 30 + i,
      metadata: { device: i % 2 ? 'press-7' : 'press-8' },
    }),
  )
  twin = [
    chain.tx(B, 'same bytes', { timestamp: T0 + 40 }),
    chain.tx(B, 'same bytes', { timestamp: T0 + 41 }),
  ]
  for (const set of [b1, b2, [big], b4, [twin[0]], [twin[1]], []]) {
    blocks.push(await chain.addBlock(set))
    txs.push(...set)
  }
  server = createApiServer({ port: 0 }, chain.components())
  const addr = await server.start()
  url = addr.url
  chain.anchor = url
})

afterAll(async () => {
  await server?.stop()
  await chain?.close()
})

describe('status and peers', () => {
  it('reports the node and its chain', async () => {
    const { status, body } = await gql(
      url,
      '{ status { type nodeId peerId network height headHash finalHeight peers mempoolSize outboxSize syncing syncState version } }',
    )
    expect(status).toBe(200)
    expect(body.errors).toBeUndefined()
    expect(body.data.status).toEqual({
      type: 'full',
      nodeId: 'node-test',
      peerId: '12D3KooWtest',
      network: NETWORK,
      height: 7,
      headHash: blockHashHex(blocks[6].header),
      finalHeight: 0,
      peers: 1,
      mempoolSize: 0,
      outboxSize: 0,
      syncing: false,
      syncState: 'synced',
      version: '0.1.0',
    })
  })

  it('lists peers', async () => {
    const { body } = await gql(url, '{ peers { peerId publicKey addrs direction } }')
    expect(body.data.peers).toEqual([
      {
        peerId: '12D3KooWpeer',
        publicKey: 'ab'.repeat(32),
        addrs: ['/ip4/127.0.0.1/tcp/7001'],
        direction: 'outbound',
      },
    ])
  })
})

describe('block and blocks', () => {
  const fields =
    'hash height network version timestamp time prevHash merkleRoot txCount difficulty nonce producer canonical confirmations final txIds signatures { signer signature }'

  it('finds a block by height and by hash with header fields and tx ids', async () => {
    const b = blocks[0]
    const byHeight = await gql(url, `{ block(height: 1) { ${fields} } }`)
    const byHash = await gql(url, `query($h: String!) { block(hash: $h) { ${fields} } }`, {
      h: blockHashHex(b.header).toUpperCase(),
    })
    expect(byHeight.body.errors).toBeUndefined()
    expect(byHash.body.data.block).toEqual(byHeight.body.data.block)
    const v = byHeight.body.data.block
    expect(v.hash).toBe(blockHashHex(b.header))
    expect(v.height).toBe(1)
    expect(v.prevHash).toBe(toHex(b.header.prevHash))
    expect(v.merkleRoot).toBe(toHex(b.header.merkleRoot))
    expect(v.txCount).toBe(3)
    expect(v.timestamp).toBe(b.header.timestamp)
    expect(v.time).toBe(new Date(b.header.timestamp).toISOString())
    expect(v.producer).toBe(toHex(chain.producer.publicKey))
    expect(v.canonical).toBe(true)
    expect(v.confirmations).toBe(7)
    expect(v.final).toBe(false)
    expect(v.txIds).toEqual(b.txs.map((t) => txIdHex(t)))
    expect(v.signatures).toHaveLength(1)
  })

  it("pages a block's transactions", async () => {
    const q =
      'query($after: String) { block(height: 4) { transactions(first: 3, after: $after) { nodes { id index } pageInfo { hasNextPage endCursor } } } }'
    const p1 = (await gql(url, q)).body.data.block.transactions
    expect(p1.nodes.map((n: { index: number }) => n.index)).toEqual([0, 1, 2])
    expect(p1.pageInfo.hasNextPage).toBe(true)
    const p2 = (await gql(url, q, { after: p1.pageInfo.endCursor })).body.data.block.transactions
    expect(p2.nodes).toEqual([{ id: txIdHex(blocks[3].txs[3]), index: 3 }])
    expect(p2.pageInfo.hasNextPage).toBe(false)
  })

  it('answers unknown or malformed block ids with typed errors', async () => {
    const cases: Array<[string, string]> = [
      [`{ block(hash: "${'00'.repeat(32)}") { height } }`, 'NOT_FOUND'],
      ['{ block(height: 99) { height } }', 'NOT_FOUND'],
      ['{ block(hash: "xyz") { height } }', 'BAD_USER_INPUT'],
      [`{ block(hash: "${'ab'.repeat(31)}") { height } }`, 'BAD_USER_INPUT'],
      ['{ block(height: -1) { height } }', 'BAD_USER_INPUT'],
      ['{ block { height } }', 'BAD_USER_INPUT'],
      [`{ block(height: 1, hash: "${'00'.repeat(32)}") { height } }`, 'BAD_USER_INPUT'],
    ]
    for (const [q, want] of cases) {
      const { status, body } = await gql(url, q)
      expect(status, q).toBeLessThan(500)
      expect(code(body), q).toBe(want)
      expect(body.data?.block ?? null).toBeNull()
    }
  })

  it('pages through all blocks with cursors', async () => {
    const seen: number[] = []
    let after: string | null = null
    for (let i = 0; i < 10; i++) {
      const { body } = await gql(
        url,
        'query($a: String) { blocks(first: 3, after: $a) { edges { cursor node { height } } pageInfo { hasNextPage endCursor } } }',
        {
          a: after,
        },
      )
      const c = body.data.blocks
      seen.push(...c.edges.map((e: { node: { height: number } }) => e.node.height))
      expect(c.pageInfo.endCursor).toBe(c.edges[c.edges.length - 1].cursor)
      if (!c.pageInfo.hasNextPage) break
      after = c.pageInfo.endCursor
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
  })

  it('handles pagination edges', async () => {
    const q = (args: string) =>
      gql(url, `{ blocks(${args}) { nodes { height } pageInfo { hasNextPage endCursor } } }`)
    const range = (await q('from: 2, to: 4, first: 10')).body.data.blocks
    expect(range.nodes.map((n: { height: number }) => n.height)).toEqual([2, 3, 4])
    expect(range.pageInfo.hasNextPage).toBe(false)
    const exact = (await q('from: 2, to: 4, first: 3')).body.data.blocks
    expect(exact.pageInfo.hasNextPage).toBe(false)
    const zero = (await q('first: 0')).body.data.blocks
    expect(zero.nodes).toEqual([])
    expect(zero.pageInfo.hasNextPage).toBe(true)
    const beyond = (await q('from: 50')).body.data.blocks
    expect(beyond.nodes).toEqual([])
    expect(beyond.pageInfo.hasNextPage).toBe(false)
    const inverted = (await q('from: 5, to: 2')).body.data.blocks
    expect(inverted.nodes).toEqual([])
    const clamped = (await q('from: 6, to: 1000')).body.data.blocks
    expect(clamped.nodes.map((n: { height: number }) => n.height)).toEqual([6, 7])
    expect(code((await q('first: 101')).body)).toBe('BAD_USER_INPUT')
    expect(code((await q('first: -1')).body)).toBe('BAD_USER_INPUT')
    expect(code((await q('after: "bm90LWEtY3Vyc29y"')).body)).toBe('BAD_USER_INPUT')
    expect(code((await q('after: "!!!"')).body)).toBe('BAD_USER_INPUT')
  })
})

describe('transaction', () => {
  const fields =
    'id version network kind origin seq timestamp time payloadHash payloadSize metadata { key value } meta(key: "path") signature blockHash height index confirmations payloadHeld payload payloadUrl block { height hash }'

  it('returns body fields, location, confirmations and the payload', async () => {
    const tx = txs[1]
    const id = txIdHex(tx)
    const { body } = await gql(url, `query($id: String!) { transaction(id: $id) { ${fields} } }`, { id })
    expect(body.errors).toBeUndefined()
    const t = body.data.transaction
    expect(t).toMatchObject({
      id,
      version: 1,
      network: NETWORK,
      kind: 'record',
      origin: toHex(A.publicKey),
      seq: tx.body.seq,
      timestamp: T0 + 1,
      time: new Date(T0 + 1).toISOString(),
      payloadHash: toHex(tx.body.payloadHash),
      payloadSize: tx.payload.byteLength,
      meta: 'in/a1.csv',
      signature: toHex(tx.signature),
      blockHash: blockHashHex(blocks[0].header),
      height: 1,
      index: 1,
      confirmations: 7,
      payloadHeld: true,
      payloadUrl: `/tx/${id}/payload`,
      block: { height: 1, hash: blockHashHex(blocks[0].header) },
    })
    // Order is the canonical CBOR key order of the signed body.
    expect(t.metadata).toEqual([
      { key: 'path', value: 'in/a1.csv' },
      { key: 'source', value: 'file' },
      { key: 'contentType', value: 'text/csv' },
    ])
    expect(Buffer.from(fromBase64(t.payload)).toString()).toBe('a,1\n')
  })

  it('refuses to inline a payload above the cap, pointing at the REST route', async () => {
    const id = txIdHex(big)
    const { status, body } = await gql(
      url,
      `{ transaction(id: "${id}") { id payloadSize payloadHeld payload } }`,
    )
    expect(status).toBe(200)
    expect(body.data.transaction).toEqual({ id, payloadSize: 100 * 1024, payloadHeld: true, payload: null })
    expect(code(body)).toBe('PAYLOAD_TOO_LARGE')
    expect(body.errors?.[0].extensions?.payloadUrl).toBe(`/tx/${id}/payload`)
  })

  it('answers unknown and malformed ids with typed errors', async () => {
    const unknown = await gql(url, `{ transaction(id: "${'11'.repeat(32)}") { id } }`)
    expect(unknown.status).toBe(200)
    expect(code(unknown.body)).toBe('NOT_FOUND')
    const bad = await gql(url, '{ transaction(id: "not-hex") { id } }')
    expect(code(bad.body)).toBe('BAD_USER_INPUT')
    const missing = await gql(url, '{ transaction { id } }')
    expect(missing.status).toBeLessThan(500)
    expect(missing.body.errors?.length).toBeGreaterThan(0)
  })
})

describe('transactions(filter)', () => {
  const q =
    'query($f: TxFilter, $first: Int, $after: String) { transactions(filter: $f, first: $first, after: $after) { nodes { id } edges { cursor } pageInfo { hasNextPage endCursor } scannedBlocks } }'
  const all = async (filter: Record<string, unknown>, first = 2, u = url) => {
    const out: string[] = []
    let after: string | null = null
    for (let i = 0; i < 50; i++) {
      const { body } = await gql(u, q, { f: filter, first, after })
      expect(body.errors).toBeUndefined()
      const c = body.data.transactions
      out.push(...ids(c.nodes))
      if (!c.pageInfo.hasNextPage) return out
      after = c.pageInfo.endCursor
    }
    throw new Error('did not finish paging')
  }
  const newestFirst = (list: Transaction[]) => list.map((t) => txIdHex(t)).reverse()

  it('lists everything newest first across pages', async () => {
    expect(await all({})).toEqual(newestFirst(txs))
  })

  it('filters by origin, kind, metadata and time range', async () => {
    expect(await all({ origin: toHex(B.publicKey) })).toEqual(
      newestFirst(txs.filter((t) => t.body.origin === B.publicKey)),
    )
    expect(await all({ kind: 'anchor' })).toEqual([txIdHex(txs[4])])
    expect(await all({ metadata: [{ key: 'device', value: 'press-7' }] })).toEqual(
      newestFirst(txs.filter((t) => t.body.metadata.device === 'press-7')),
    )
    expect(await all({ metadata: [{ key: 'device' }] }, 3)).toHaveLength(4)
    expect(
      await all({
        metadata: [
          { key: 'source', value: 'file' },
          { key: 'path', value: 'in/a2.csv' },
        ],
      }),
    ).toEqual([txIdHex(txs[2])])
    expect(await all({ since: T0 + 10, until: T0 + 20 })).toEqual([
      txIdHex(big),
      txIdHex(txs[4]),
      txIdHex(txs[3]),
    ])
    expect(await all({ origin: toHex(seedKey(9).publicKey) })).toEqual([])
  })

  it('finds a record by its payload hash (index lookup)', async () => {
    const hash = toHex(sha256(new Uint8Array(Buffer.from('same bytes'))))
    expect(await all({ payloadHash: hash }, 1)).toEqual([txIdHex(twin[1]), txIdHex(twin[0])])
    const one = await gql(url, q, { f: { payloadHash: hash }, first: 1 })
    expect(one.body.data.transactions.pageInfo.hasNextPage).toBe(true)
    expect(await all({ payloadHash: hash, since: T0 + 41 })).toEqual([txIdHex(twin[1])])
    expect(await all({ payloadHash: '00'.repeat(32) })).toEqual([])
  })

  it('bounds the work of one page and continues from the cursor', async () => {
    const small = createApiServer({ port: 0, maxScanBlocks: 2 }, chain.components())
    const { url: u } = await small.start()
    try {
      const first = await gql(u, q, { f: { kind: 'anchor' }, first: 5 })
      expect(first.body.data.transactions).toMatchObject({
        nodes: [],
        scannedBlocks: 2,
        pageInfo: { hasNextPage: true },
      })
      expect(await all({ kind: 'anchor' }, 5, u)).toEqual([txIdHex(txs[4])])
      expect(await all({}, 100, u)).toEqual(newestFirst(txs))
    } finally {
      await small.stop()
    }
  })

  it('rejects malformed filters and cursors', async () => {
    for (const f of [{ origin: 'zz' }, { payloadHash: '12' }, { since: 5, until: 1 }]) {
      expect(code((await gql(url, q, { f })).body), JSON.stringify(f)).toBe('BAD_USER_INPUT')
    }
    expect(code((await gql(url, q, { after: Buffer.from('b:1').toString('base64url') })).body)).toBe(
      'BAD_USER_INPUT',
    )
    const badKind = await gql(url, q, { f: { kind: 'bogus' } })
    expect(badKind.status).toBeLessThan(500)
    expect(badKind.body.errors?.length).toBeGreaterThan(0)
  })
})

describe('receipts', () => {
  it('returns a Chainpoint receipt whose anchor URI serves the block hash', async () => {
    const tx = txs[6]
    const { body } = await gql(url, `{ receipt(txId: "${txIdHex(tx)}") }`)
    expect(body.errors).toBeUndefined()
    const proof = body.data.receipt
    expect(proof.type).toBe('Chainpoint')
    expect(proof.hash).toBe(toHex(tx.body.payloadHash))
    const [{ anchor, expected }] = evaluateChainpoint(proof)
    expect(expected).toBe(blockHashHex(blocks[3].header))
    expect(anchor.uris[0]).toBe(`${url}/networks/${NETWORK}/blocks/4/hash`)
    const served = await fetch(anchor.uris[0])
    expect(served.status).toBe(200)
    expect(served.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await served.text()).toBe(expected)
  })

  it('returns a native receipt that verifies with the genesis', async () => {
    const tx = txs[0]
    const { body } = await gql(url, `{ receipt(txId: "${txIdHex(tx)}", format: NATIVE) }`)
    expect(body.errors).toBeUndefined()
    const r = body.data.receipt
    expect(r).toMatchObject({
      txId: txIdHex(tx),
      height: 1,
      network: NETWORK,
      blockHash: blockHashHex(blocks[0].header),
    })
    const v = verifyNativeReceipt(r, { payload: tx.payload, validators: [chain.producer.publicKey] })
    expect(v.blockHash).toBe(blockHashHex(blocks[0].header))
  })

  it('answers unknown and malformed tx ids with typed errors', async () => {
    expect(code((await gql(url, `{ receipt(txId: "${'22'.repeat(32)}") }`)).body)).toBe('NOT_FOUND')
    expect(code((await gql(url, '{ receipt(txId: "22") }')).body)).toBe('BAD_USER_INPUT')
    const badFormat = await gql(url, `{ receipt(txId: "${txIdHex(txs[0])}", format: PDF) }`)
    expect(badFormat.status).toBeLessThan(500)
    expect(badFormat.body.errors?.length).toBeGreaterThan(0)
  })
})

describe('REST', () => {
  it('serves anchor hashes and refuses unknown networks and heights', async () => {
    for (let h = 0; h < blocks.length; h++) {
      const r = await fetch(`${url}/networks/${NETWORK}/blocks/${h + 1}/hash`)
      expect(await r.text()).toBe(blockHashHex(blocks[h].header))
    }
    expect((await fetch(`${url}/networks/other-net/blocks/1/hash`)).status).toBe(404)
    expect((await fetch(`${url}/networks/${NETWORK}/blocks/999/hash`)).status).toBe(404)
    expect((await fetch(`${url}/networks/${NETWORK}/blocks/-1/hash`)).status).toBe(400)
    expect((await fetch(`${url}/networks/${NETWORK}/blocks/1e3/hash`)).status).toBe(400)
    expect((await fetch(`${url}/networks/%E0%A4%A/blocks/1/hash`)).status).toBe(400)
  })

  it('streams raw payloads with their content type', async () => {
    const r = await fetch(`${url}/tx/${txIdHex(big)}/payload`)
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('application/octet-stream')
    expect(Buffer.from(await r.arrayBuffer()).equals(Buffer.from(big.payload))).toBe(true)
    const csv = await fetch(`${url}/tx/${txIdHex(txs[0])}/payload`)
    expect(csv.headers.get('content-type')).toBe('text/csv')
    expect(await csv.text()).toBe('a,0\n')
    expect((await fetch(`${url}/tx/${'33'.repeat(32)}/payload`)).status).toBe(404)
    expect((await fetch(`${url}/tx/nothex/payload`)).status).toBe(400)
  })

  it('reports health and metrics', async () => {
    const ok = await fetch(`${url}/healthz`)
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ status: 'ready', height: 7 })
    chain.isReady = false
    try {
      expect((await fetch(`${url}/healthz`)).status).toBe(503)
    } finally {
      chain.isReady = true
    }
    const m = await fetch(`${url}/metrics`)
    expect(m.status).toBe(200)
    const text = await m.text()
    expect(text).toContain('profichain_api_requests_total{route="graphql",status="200"}')
    expect(text).toContain('profichain_api_request_duration_seconds_bucket')
  })

  it('reports degraded health with its problems on /healthz and in status', async () => {
    const problems = [
      { code: 'DISK_FULL', message: 'cannot write the store: free disk space', since: 1_700_000_000_000 },
    ]
    let health: { status: 'ready' | 'degraded'; problems: typeof problems } = { status: 'degraded', problems }
    let ready = true
    const s = createApiServer(
      { port: 0 },
      chain.components({
        ready: () => ready,
        health: () => health,
        status: () => ({ ...chain.components().status(), health: health.status, problems: health.problems }),
      }),
    )
    const { url: u } = await s.start()
    try {
      const degraded = await fetch(`${u}/healthz`)
      expect(degraded.status).toBe(503)
      expect(await degraded.json()).toEqual({ status: 'degraded', height: 7, problems })
      const st = await gql(u, '{ status { health problems { code message since } } }')
      expect(st.body.errors).toBeUndefined()
      expect(st.body.data.status).toEqual({ health: 'degraded', problems })
      ready = false
      const starting = await fetch(`${u}/healthz`)
      expect(starting.status).toBe(503)
      expect(await starting.json()).toEqual({ status: 'starting' })
      ready = true
      health = { status: 'ready', problems: [] }
      const ok = await fetch(`${u}/healthz`)
      expect(ok.status).toBe(200)
      expect(await ok.json()).toEqual({ status: 'ready', height: 7 })
    } finally {
      await s.stop()
    }
  })

  it('defaults status health to ready without problems', async () => {
    const { body } = await gql(url, '{ status { health problems { code message since } } }')
    expect(body.errors).toBeUndefined()
    expect(body.data.status).toEqual({ health: 'ready', problems: [] })
  })

  it('answers unknown routes and methods without a 500', async () => {
    expect((await fetch(`${url}/nope`)).status).toBe(404)
    expect((await fetch(`${url}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405)
  })
})

describe('limits', () => {
  it('refuses queries that are too deep', async () => {
    const deep =
      '{ block(height: 1) { transactions { nodes { block { transactions { nodes { block { transactions { nodes { block { hash } } } } } } } } } } }'
    const { status, body } = await gql(url, deep)
    expect(status).toBeLessThan(500)
    expect(code(body)).toBe('QUERY_TOO_COMPLEX')
    expect(body.data).toBeUndefined()
  })

  it('refuses queries that are too costly', async () => {
    const { body } = await gql(
      url,
      '{ blocks(first: 100) { nodes { transactions(first: 100) { nodes { id block { hash } } } } } }',
    )
    expect(code(body)).toBe('QUERY_TOO_COMPLEX')
    const viaVariable = await gql(
      url,
      'query($n: Int) { blocks(first: $n) { nodes { transactions(first: $n) { nodes { id } } } } }',
      { n: 1 },
    )
    expect(code(viaVariable.body)).toBe('QUERY_TOO_COMPLEX')
  })

  it('refuses too many aliases', async () => {
    const q = `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: status { height }`).join(' ')} }`
    expect(code((await gql(url, q)).body)).toBe('QUERY_TOO_COMPLEX')
  })

  it('refuses fragment fan-out fast and fragment cycles without hanging', async () => {
    const levels = 30
    const frags = Array.from(
      { length: levels },
      (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`,
    )
    frags.push(`fragment F${levels} on Query { status { height } }`)
    const fanout = await gql(url, `{ ...F0 } ${frags.join(' ')}`)
    expect(code(fanout.body)).toBe('QUERY_TOO_COMPLEX')
    const cycle = await gql(url, '{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }')
    expect(cycle.status).toBeLessThan(500)
    expect(cycle.body.errors?.length).toBeGreaterThan(0)
  })

  it('refuses bodies over the size cap and documents over the token cap', async () => {
    const huge = `{ status { height } } # ${'x'.repeat(70 * 1024)}`
    const r = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: huge }),
    })
    expect(r.status).toBe(413)
    const many = `{ ${Array.from({ length: 3000 }, () => 'status { height }').join(' ')} }`
    const t = await gql(url, many)
    expect(t.status).toBeLessThan(500)
    expect(t.body.errors?.[0].message).toMatch(/tokens/)
  })

  it('still serves GraphiQL introspection', async () => {
    const { body } = await gql(url, getIntrospectionQuery())
    expect(body.errors).toBeUndefined()
    expect(body.data.__schema.queryType.name).toBe('Query')
  })
})

describe('auth and binding', () => {
  const token = 'correct-horse-battery-staple-42'

  it('requires the bearer token on everything but /healthz and the GraphiQL page', async () => {
    const s = createApiServer({ port: 0, token }, chain.components())
    const { url: u } = await s.start()
    try {
      const none = await gql(u, '{ status { height } }')
      expect(none.status).toBe(401)
      expect(code(none.body)).toBe('UNAUTHENTICATED')
      const wrong = await gql(u, '{ status { height } }', undefined, {
        authorization: 'Bearer wrong-token-of-some-length',
      })
      expect(wrong.status).toBe(401)
      const ok = await gql(u, '{ status { height } }', undefined, { authorization: `Bearer ${token}` })
      expect(ok.status).toBe(200)
      expect(ok.body.data.status.height).toBe(7)
      expect((await fetch(`${u}/metrics`)).status).toBe(401)
      // Anchor hash URIs reveal only block hashes: public, so any Chainpoint verifier can resolve them.
      const anchor = await fetch(`${u}/networks/${NETWORK}/blocks/1/hash`)
      expect(anchor.status).toBe(200)
      expect(await anchor.text()).toBe(blockHashHex(blocks[0].header))
      expect((await fetch(`${u}/networks/${NETWORK}/blocks/1/hash`, { method: 'POST' })).status).toBe(405)
      expect((await fetch(`${u}/tx/${txIdHex(txs[0])}/payload`)).status).toBe(401)
      expect((await fetch(`${u}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
        200,
      )
      expect((await fetch(`${u}/healthz`)).status).toBe(200)
      const page = await fetch(`${u}/graphql`, { headers: { accept: 'text/html' } })
      expect(page.status).toBe(200)
      expect(await page.text()).toContain('<html')
      const sneaky = await fetch(`${u}/graphql?query=${encodeURIComponent('{ status { height } }')}`, {
        headers: { accept: 'application/json' },
      })
      expect(sneaky.status).toBe(401)
    } finally {
      await s.stop()
    }
  })

  it('refuses a non-loopback bind address without a token', () => {
    expect(() => createApiServer({ host: '0.0.0.0', port: 0 }, chain.components())).toThrow(
      expect.objectContaining({ code: 'ERR_API_NO_TOKEN' }),
    )
    expect(() => createApiServer({ host: '::', port: 0 }, chain.components())).toThrow(
      expect.objectContaining({ code: 'ERR_API_NO_TOKEN' }),
    )
    expect(() => createApiServer({ host: '0.0.0.0', port: 0, token }, chain.components())).not.toThrow()
    expect(() => createApiServer({ host: 'localhost', port: 0 }, chain.components())).not.toThrow()
  })

  it('sends CORS headers only for configured origins', async () => {
    const plain = await fetch(`${url}/healthz`, { headers: { origin: 'http://evil.example' } })
    expect(plain.headers.get('access-control-allow-origin')).toBeNull()
    const s = createApiServer({ port: 0, cors: ['http://app.example'] }, chain.components())
    const { url: u } = await s.start()
    try {
      const pre = await fetch(`${u}/graphql`, {
        method: 'OPTIONS',
        headers: { origin: 'http://app.example', 'access-control-request-method': 'POST' },
      })
      expect(pre.status).toBe(204)
      expect(pre.headers.get('access-control-allow-origin')).toBe('http://app.example')
      const other = await fetch(`${u}/healthz`, { headers: { origin: 'http://evil.example' } })
      expect(other.status).toBe(403)
    } finally {
      await s.stop()
    }
  })
})
