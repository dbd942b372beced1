import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiChain, type ApiInit, type ApiServer, createApiServer } from '../src/index.js'
import { gql, seedKey, TestChain } from './chain.js'

// Issue 10 item 9: query cost follows the work (list sizes, scan bounds, aliases), with run-time budgets.

const A = seedKey(2)
const BLOCKS = 20
const TXS_PER_BLOCK = 150

let chain: TestChain
const servers: ApiServer[] = []

/** The real BlockTree, counting the rows each read returns into `rows`. */
function countingTree(tree: ApiChain, rows: { value: number }): ApiChain {
  return new Proxy(tree, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver)
      if (prop === 'getBlock')
        return async (hash: Uint8Array) => {
          const b = await target.getBlock(hash)
          rows.value += b?.txs.length ?? 0
          return b
        }
      if (prop === 'getTxs')
        return async (ids: string[]) => {
          rows.value += ids.length
          return target.getTxs(ids)
        }
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}

/**
 * A server over the chain; `rows` counts what the store produced for it: the txs of every block loaded
 * plus every tx looked up by id. One counter per server, so reads a refused request left in flight (the
 * answer goes out once an error nulls the whole result) cannot land in another test's count.
 */
async function serve(init: ApiInit = {}): Promise<{ url: string; rows: { value: number } }> {
  const rows = { value: 0 }
  const s = createApiServer({ port: 0, ...init }, chain.components({ tree: countingTree(chain.tree, rows) }))
  servers.push(s)
  return { url: (await s.start()).url, rows }
}

const errorCodes = (body: { errors?: Array<{ extensions?: { code?: string } }> }) => [
  ...new Set((body.errors ?? []).map((e) => e.extensions?.code)),
]
const aliased = (n: number, field: string) =>
  `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`

beforeAll(async () => {
  chain = await TestChain.open()
  for (let b = 0; b < BLOCKS; b++) {
    const txs = Array.from({ length: TXS_PER_BLOCK }, (_, i) =>
      chain.tx(A, `r${b}-${i}`, { metadata: { line: String(i) } }),
    )
    await chain.addBlock(txs)
  }
}, 60_000)

afterAll(async () => {
  for (const s of servers) await s.stop()
  await chain?.close()
})

describe('static cost counts list sizes, scans and aliases', () => {
  it('refuses blocks(first: 100) { nodes { txIds } } under 10 aliases before touching the store', async () => {
    const { url, rows } = await serve()
    const { status, body } = await gql(url, aliased(10, 'blocks(first: 100) { nodes { txIds } }'))
    expect(status).toBeLessThan(500)
    expect(errorCodes(body)).toEqual(['QUERY_TOO_COMPLEX'])
    expect(body.errors?.[0].message).toMatch(/costs 101010; the limit is 5000/)
    expect(rows.value).toBe(0)
    // One page of 20 blocks' ids is fine.
    const ok = await gql(url, '{ blocks(first: 20) { nodes { txIds } } }')
    expect(ok.body.errors).toBeUndefined()
    expect(ok.body.data.blocks.nodes[1].txIds).toHaveLength(TXS_PER_BLOCK)
  })

  it('refuses a 30-alias transactions filter scan before scanning', async () => {
    const { url, rows } = await serve()
    const { body } = await gql(url, aliased(30, 'transactions(filter: { kind: anchor }) { nodes { id } }'))
    expect(errorCodes(body)).toEqual(['QUERY_TOO_COMPLEX'])
    expect(rows.value).toBe(0)
    // A filter given as a variable may be a scan too.
    const viaVariable = await gql(
      url,
      `query($f: TxFilter) { ${Array.from({ length: 30 }, (_, i) => `a${i}: transactions(filter: $f) { nodes { id } }`).join(' ')} }`,
      { f: { kind: 'anchor' } },
    )
    expect(errorCodes(viaVariable.body)).toEqual(['QUERY_TOO_COMPLEX'])
    expect(rows.value).toBe(0)
  })

  it('lets aliased payloadHash lookups (an index, not a scan) through', async () => {
    const { url } = await serve()
    const hash = '00'.repeat(32)
    const { body } = await gql(
      url,
      aliased(30, `transactions(filter: { payloadHash: "${hash}" }) { nodes { id } }`),
    )
    expect(body.errors).toBeUndefined()
    expect(body.data.a29.nodes).toEqual([])
  })

  it('applies GraphQL Armor depth, alias and directive limits', async () => {
    const { url } = await serve({ maxAliases: 2, maxDepth: 3, maxDirectives: 1 })
    const aliases = await gql(url, aliased(3, 'status { height }'))
    expect(errorCodes(aliases.body)).toEqual(['QUERY_TOO_COMPLEX'])
    expect(aliases.body.errors?.[0].message).toMatch(/Aliases limit of 2 exceeded, found 3/)
    const deep = await gql(url, '{ block(height: 1) { transactions { nodes { id } } } }')
    expect(deep.body.errors?.[0].message).toMatch(/depth limit of 3 exceeded, found 4/)
    const directives = await gql(url, '{ status { height @include(if: true) nodeId @skip(if: false) } }')
    expect(directives.body.errors?.[0].message).toMatch(/Directives limit of 1 exceeded, found 2/)
  })
})

describe('run-time budget', () => {
  it('aborts txIds lists past the work budget, charged by the real tx counts', async () => {
    const maxWork = 1000
    const { url, rows } = await serve({ maxWork })
    // Statically cheap (txIds assumed 100 long) but the blocks hold 150 txs each.
    const { status, body } = await gql(url, '{ blocks(first: 20) { nodes { txIds } } }')
    expect(status).toBeLessThan(500)
    expect(errorCodes(body)).toEqual(['QUERY_BUDGET_EXCEEDED'])
    expect(body.errors?.[0].extensions).toMatchObject({ budget: 'work' })
    expect(rows.value).toBeLessThanOrEqual(maxWork)
  })

  it('bounds aliased filter scans by the work budget, not per page', async () => {
    const maxWork = 4000
    const { url, rows } = await serve({ maxWork })
    // No anchors exist: each of the 5 scans would read the whole chain (3000 txs).
    const { body } = await gql(url, aliased(5, 'transactions(filter: { kind: anchor }) { nodes { id } }'))
    expect(errorCodes(body)).toEqual(['QUERY_BUDGET_EXCEEDED'])
    // The second scan stops once the budget is spent, the rest do no work (the non-null error nulls data).
    expect(body.data).toBeNull()
    // Each block is charged before it is read, so even concurrent scans stay within the budget.
    expect(rows.value).toBeLessThanOrEqual(maxWork)
  })

  it('aborts when the result outgrows its byte budget', async () => {
    const { url } = await serve({ maxResultBytes: 20_000 })
    const { body } = await gql(url, '{ blocks(first: 20) { nodes { txIds } } }')
    expect(errorCodes(body)).toEqual(['QUERY_BUDGET_EXCEEDED'])
    expect(body.errors?.[0].extensions).toMatchObject({ budget: 'result' })
  })

  it('aborts when the request outlives its time budget', async () => {
    const { url, rows } = await serve({ maxQueryMs: 0 })
    const { body } = await gql(url, '{ transactions(filter: { kind: anchor }) { nodes { id } } }')
    expect(errorCodes(body)).toEqual(['QUERY_BUDGET_EXCEEDED'])
    expect(body.errors?.[0].extensions).toMatchObject({ budget: 'time' })
    // Aborted at the first block of the scan, before reading it.
    expect(rows.value).toBe(0)
  })

  it('counts refusals in the metrics', async () => {
    const text = await (await fetch(`${(await serve()).url}/metrics`)).text()
    expect(text).toMatch(/profichain_api_refused_total\{reason="budget_work"\} [1-9]/)
    expect(text).toMatch(/profichain_api_refused_total\{reason="query_limits"\} [1-9]/)
  })
})
