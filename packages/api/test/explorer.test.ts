import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiServer } from '../src/index.js'
import { TestChain } from './chain.js'

// The explorer's routes (the app itself runs in test/explorer.test.ts, in Chromium): static files public,
// the genesis behind the token, archive/full nodes only, and GraphiQL's page pointing at local assets only.
const token = 'explorer-unit-test-token-0123'
let chain: TestChain

beforeAll(async () => {
  chain = await TestChain.open()
})
afterAll(async () => {
  await chain?.close()
})

describe('explorer routes', () => {
  it('serves the app and GraphiQL assets without a token, the genesis only with it; GraphiQL loads nothing from another host', async () => {
    const s = createApiServer({ port: 0, token }, { ...chain.components(), genesis: () => '{"network":"unit"}\n' })
    const { url } = await s.start()
    try {
      for (const [path, type] of [
        ['/explorer', 'text/html'],
        ['/explorer/app.js', 'text/javascript'],
        ['/explorer/style.css', 'text/css'],
        ['/graphiql/yoga-graphiql.umd.js', 'text/javascript'],
        ['/graphiql/graphiql.css', 'text/css'],
      ]) {
        const r = await fetch(url + path)
        expect(r.status, path).toBe(200)
        expect(r.headers.get('content-type'), path).toContain(type)
        await r.arrayBuffer()
      }
      const page = await fetch(`${url}/explorer`)
      expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'")
      expect(await page.text()).toContain('<label for="search">')
      expect((await fetch(`${url}/explorer/genesis.json`)).status).toBe(401)
      const g = await fetch(`${url}/explorer/genesis.json`, { headers: { authorization: `Bearer ${token}` } })
      expect(g.status).toBe(200)
      expect(await g.text()).toBe('{"network":"unit"}\n')
      expect((await fetch(`${url}/explorer/app.js`, { method: 'POST' })).status).toBe(405)
      expect((await fetch(`${url}/explorer/../package.json`)).status).not.toBe(200)

      const gi = await (await fetch(`${url}/graphql`, { headers: { accept: 'text/html' } })).text()
      expect(gi).toContain('/graphiql/yoga-graphiql.umd.js')
      expect(gi).not.toMatch(/https?:\/\//)
    } finally {
      await s.stop()
    }
  })

  it('is not served by thin and producer nodes, and answers 404 for the genesis when the node gives none', async () => {
    const c = chain.components()
    const s = createApiServer({ port: 0 }, { ...c, status: () => ({ ...c.status(), type: 'thin' }) })
    const { url } = await s.start()
    try {
      const r = await fetch(`${url}/explorer`)
      expect(r.status).toBe(404)
      expect(await r.text()).toContain('archive and full nodes')
      expect((await fetch(`${url}/explorer/genesis.json`)).status).toBe(404)
    } finally {
      await s.stop()
    }
  })
})
