import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiServer, createApiServer, type EquivocationEvidence } from '../src/index.js'
import { gql, TestChain } from './chain.js'

const E1: EquivocationEvidence = { validator: 'aa'.repeat(32), height: 5, blockHashes: ['01'.repeat(32), '02'.repeat(32)], at: 1_700_000_000_000 }
const E2: EquivocationEvidence = { validator: 'bb'.repeat(32), height: 9, blockHashes: ['03'.repeat(32), '04'.repeat(32)], at: 1_700_000_100_000 }

let chain: TestChain
const servers: ApiServer[] = []

async function serve(evidence?: () => Promise<EquivocationEvidence[]>): Promise<string> {
  const s = createApiServer({ port: 0 }, chain.components(evidence ? { evidence } : {}))
  servers.push(s)
  return (await s.start()).url
}

beforeAll(async () => {
  chain = await TestChain.open()
})

afterAll(async () => {
  for (const s of servers) await s.stop()
  await chain?.close()
})

describe('evidence', () => {
  it('lists the equivocations the node holds, newest first, at most `first`', async () => {
    const url = await serve(async () => [E1, E2])
    const q = 'query($n: Int) { evidence(first: $n) { validator height blockHashes at } }'
    const all = await gql(url, q, { n: 10 })
    expect(all.body.errors).toBeUndefined()
    expect(all.body.data.evidence).toEqual([E2, E1])
    const one = await gql(url, q, { n: 1 })
    expect(one.body.data.evidence).toEqual([E2])
  })

  it('is empty when the node keeps no evidence, and refuses a bad `first`', async () => {
    const url = await serve()
    const r = await gql(url, '{ evidence { validator height blockHashes at } }')
    expect(r.body.errors).toBeUndefined()
    expect(r.body.data.evidence).toEqual([])
    const bad = await gql(url, '{ evidence(first: -1) { validator } }')
    expect(bad.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT')
  })
})

describe('evidence without a time', () => {
  it('orders by height and answers at: null', async () => {
    const url = await serve(async () => [
      { validator: 'cc'.repeat(32), height: 3, blockHashes: ['05'.repeat(32), '06'.repeat(32)] },
      { validator: 'dd'.repeat(32), height: 8, blockHashes: ['07'.repeat(32), '08'.repeat(32)] },
    ])
    const r = await gql(url, '{ evidence { validator height at } }')
    expect(r.body.data.evidence).toEqual([
      { validator: 'dd'.repeat(32), height: 8, at: null },
      { validator: 'cc'.repeat(32), height: 3, at: null },
    ])
  })
})
