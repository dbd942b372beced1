// @profichain/client in a real browser (issue 14, item 5: "the pure-JS crypto backend so it also runs in a
// browser"): the client's self-contained bundle (packages/client/scripts/bundle.mjs) loaded into Debian's
// Chromium (playwright-core) on a page of a real node process. In the page: a registered device seals records
// (Ed25519 and tier-2 AES-GCM by the pure-JS backend), submits them with POST /v1/records (same origin), then
// verifies each record's Chainpoint receipt from the node against the bytes it sealed. Every request that
// does not go to the node is refused and fails the test.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { keyPairFromSeed, toHex } from '@profichain/core'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import { gql, initIngestNode, ROOT, type RunningNode, startNode, tempDir, waitFor } from './helpers.js'

const CHROMIUM = process.env.PLAYWRIGHT_CHROMIUM ?? process.env.CHROME_PATH ?? '/usr/bin/chromium'
const BUNDLE = join(ROOT, 'packages/client/dist/profichain-client.browser.js')
const TOKEN = 'client-browser-token-0123456789abcdef'

const running: RunningNode[] = []
let browser: Browser | undefined
afterAll(async () => {
  await browser?.close()
  for (const n of running) await n.stop('SIGKILL')
})

/** GraphQL with the test's bearer token. */
const authed = <T>(url: string, query: string, variables: Record<string, unknown> = {}) => gql<T>(url, query, variables, { token: TOKEN })

interface PageResult {
  acks: Array<{ status: string; code: string }>
  txIds: string[]
}

/** What the bundle's global `ProfichainClient` holds (packages/client/scripts/browser-entry.mjs). */
type BundleApi = typeof import('@profichain/client/browser') &
  Pick<typeof import('@profichain/core'), 'fromHex' | 'keyPairFromSeed' | 'toHex' | 'txId' | 'utf8' | 'verifyChainpointReceipt'>

describe('@profichain/client in Chromium', () => {
  it('a page seals device records (tier 2 included) with the pure-JS backend, submits them over HTTP and verifies their receipts', async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium (.ci/run does), or set PLAYWRIGHT_CHROMIUM`)
    if (!existsSync(BUNDLE)) throw new Error(`no client bundle at ${BUNDLE}: run node packages/client/scripts/bundle.mjs (npm test does)`)
    const dir = join(await tempDir('client-browser'), 'node')
    const { api, network } = await initIngestNode(dir, { token: TOKEN, initArgs: ['--block-time', '250'] })
    const node = await startNode(dir)
    running.push(node)

    // The device's key: its seed goes into the page, its public key is registered through the node.
    const seed = new Uint8Array(32).fill(7)
    const device = keyPairFromSeed(seed)
    await authed(api, 'mutation($id: String!, $k: String!) { registerDevice(deviceId: $id, publicKey: $k) { txId } }', { id: 'browser-1', k: toHex(device.publicKey) })
    await waitFor('the device registered on chain', async () => (await authed<{ devices: unknown[] }>(api, '{ devices(first: 10) { publicKey } }')).devices.length === 1, 30_000)

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
    const context = await browser.newContext()
    const foreign: string[] = []
    await context.route('**/*', (route) => {
      const u = new URL(route.request().url())
      if (u.protocol === 'http:' && u.host === new URL(api).host) return route.continue()
      foreign.push(route.request().url())
      return route.abort()
    })
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await page.goto(`${api}/healthz`)
    await page.addScriptTag({ content: await readFile(BUNDLE, 'utf8') })

    // Sealed and submitted in the page (3 records, the last encrypted with tier 2).
    const sealed = await page.evaluate(
      async ({ seedHex, network, token }): Promise<PageResult> => {
        const c = (globalThis as unknown as { ProfichainClient: BundleApi }).ProfichainClient
        const key = c.keyPairFromSeed(c.fromHex(seedHex))
        const txs = [0, 1, 2].map(
          (seq) => c.createRecord({ deviceKey: key, network, seq, payload: c.utf8(`sealed in the browser ${seq}`), dataKey: seq === 2 ? new Uint8Array(32).fill(9) : undefined }).tx,
        )
        const acks = await c.postRecords({ url: location.origin, token }, txs)
        ;(globalThis as unknown as { sealedTxs: unknown }).sealedTxs = txs
        return {
          acks: acks.map((a) => ({ status: a.status, code: a.code })),
          txIds: txs.map((t) => c.toHex(c.txId(t))),
        }
      },
      { seedHex: toHex(seed), network, token: TOKEN },
    )
    expect(sealed.acks).toEqual([
      { status: 'accepted', code: '' },
      { status: 'accepted', code: '' },
      { status: 'accepted', code: '' },
    ])

    // Committed by the node; each receipt verified in the page against the payload bytes it sealed.
    const receipts = await waitFor(
      'the 3 records committed',
      async () => {
        const r = await Promise.all(sealed.txIds.map((id) => authed<{ receipt: unknown }>(api, 'query($id: String!) { receipt(txId: $id) }', { id })))
        return r.every((x) => x.receipt) ? r.map((x) => x.receipt) : undefined
      },
      60_000,
      250,
    )
    const verified = await page.evaluate((proofs) => {
      const c = (globalThis as unknown as { ProfichainClient: BundleApi }).ProfichainClient
      const txs = (globalThis as unknown as { sealedTxs: Array<{ payload: Uint8Array }> }).sealedTxs
      const out: string[] = []
      proofs.forEach((p, i) => {
        c.verifyChainpointReceipt(p as Parameters<typeof c.verifyChainpointReceipt>[0], { payload: txs[i].payload })
        out.push('ok')
        // A changed byte must be caught in the browser too.
        const changed = txs[i].payload.slice()
        changed[0] ^= 1
        try {
          c.verifyChainpointReceipt(p as Parameters<typeof c.verifyChainpointReceipt>[0], { payload: changed })
          out.push('changed payload accepted')
        } catch (e) {
          out.push((e as { code?: string }).code ?? String(e))
        }
      })
      return out
    }, receipts)
    expect(verified).toEqual(['ok', 'ERR_RECEIPT_PAYLOAD', 'ok', 'ERR_RECEIPT_PAYLOAD', 'ok', 'ERR_RECEIPT_PAYLOAD'])
    expect(errors).toEqual([])
    expect(foreign).toEqual([])
  })
})
