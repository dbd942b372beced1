// The explorer (/explorer, DESIGN §15, docs/explorer.md) in a real browser: Debian's Chromium driven by
// playwright-core against two in-process nodes of two networks that witness each other through a broker.
// Every request that does not go to the node is blocked and fails the test (the page works offline), and no
// request may carry the verified file. Screenshots of each view: tmp/explorer-artifacts/ (or $EXPLORER_ARTIFACTS).
import { randomBytes } from 'node:crypto'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { keyPairFromSeed, toHex } from '@profichain/core'
import { type Broker, createBroker } from '@profichain/global'
import { createNode, loadConfig, type ProfichainNode } from '@profichain/node'
import { pino } from 'pino'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, freePort, gql as nodeGql, readJson, ROOT, tempDir, waitFor } from './helpers.js'

const CHROMIUM = process.env.PLAYWRIGHT_CHROMIUM ?? process.env.CHROME_PATH ?? '/usr/bin/chromium'
const HAVE_CHROMIUM = existsSync(CHROMIUM)
if (!HAVE_CHROMIUM)
  console.warn(
    `explorer browser tests SKIPPED: no Chromium at ${CHROMIUM}. Install it with ` +
      '`apt-get install -y --no-install-recommends chromium` (Debian/Ubuntu; .ci/run does this) or point PLAYWRIGHT_CHROMIUM (or CHROME_PATH) at a Chromium/Chrome binary.',
  )
const ARTIFACTS = process.env.EXPLORER_ARTIFACTS ?? join(ROOT, 'tmp', 'explorer-artifacts')
const TOKEN = `explorer-test-${randomBytes(8).toString('hex')}`

interface Company {
  name: string
  dir: string
  origin: string
  apiPort: number
  node?: ProfichainNode
}

/** One validator, blocks every 500 ms when there are records (none empty: the checkpoint stays put once cosigned), checkpoints at depth 1, the broker. */
async function company(name: string, brokerUrl: string, token?: string): Promise<Company> {
  const dir = join(await tempDir(`explorer-${name}`), name)
  const apiPort = await freePort()
  const origin = `${name}.example/profichain/plant`
  const r = await cli(['init', '--data-dir', dir, '--network', `net-${name}`, '--origin', origin, '--api-port', String(apiPort), '--p2p-port', String(await freePort()), '--block-time', '500'])
  expect(r.code, r.stderr).toBe(0)
  const g = await readJson<Record<string, unknown>>(join(dir, 'genesis.json'))
  await writeFile(join(dir, 'genesis.json'), `${JSON.stringify({ ...g, checkpoint: { depth: 1, intervalMs: 300 } }, null, 2)}\n`)
  let toml = await readFile(join(dir, 'config.toml'), 'utf8')
  toml = toml.replace('# network = true', 'network = false')
  if (token) toml = toml.replace('# token = "change-me-to-a-long-random-string"', `token = "${token}"`)
  toml += `\n[broker]\nurl = "${brokerUrl}"\n`
  await writeFile(join(dir, 'config.toml'), toml)
  return { name, dir, origin, apiPort }
}

async function partner(c: Company, other: Company): Promise<void> {
  const list = await cli(['partner', 'list', '--data-dir', other.dir, '--json'])
  expect(list.code, list.stderr).toBe(0)
  const s = (JSON.parse(list.stdout) as { self: { origin: string; vkeys: string[]; encryptionKey: string } }).self
  const r = await cli(['partner', 'add', '--data-dir', c.dir, '--name', other.name, '--origin', s.origin, ...s.vkeys.flatMap((v) => ['--vkey', v]), '--encryption-key', s.encryptionKey])
  expect(r.code, r.stderr).toBe(0)
}

async function start(c: Company): Promise<void> {
  const config = await loadConfig(join(c.dir, 'config.toml'))
  c.node = await createNode({ config, logger: pino({ level: process.env.PROFICHAIN_TEST_LOG ?? 'silent' }) })
  await c.node.start()
}

const gql = <T>(c: Company, query: string, variables: Record<string, unknown> = {}) => nodeGql<T>(`http://127.0.0.1:${c.apiPort}`, query, variables, { token: TOKEN })

describe.skipIf(!HAVE_CHROMIUM)('explorer in Chromium: browse, search, verify a file offline, follow a block to its partner checkpoint', () => {
  let broker: Broker
  const cs: Company[] = []
  let browser: Browser
  let context: BrowserContext
  let page: Page
  const blocked: string[] = []
  const sent: string[] = []
  const pageErrors: string[] = []
  const nonce = randomBytes(16).toString('hex')
  const content = `{"t": 21.5, "nonce": "${nonce}"}\n`
  const payloadHash = createHash('sha256').update(content).digest('hex')
  let base: string
  let rec: { id: string; height: number; block: { hash: string } }

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true })
    const brokerPort = await freePort()
    broker = createBroker({ host: '127.0.0.1', port: brokerPort }, {})
    await broker.start()
    const url = `mqtt://127.0.0.1:${brokerPort}`
    const [A, B] = await Promise.all([company('alpha', url, TOKEN), company('beta', url)])
    cs.push(A, B)
    await Promise.all([partner(A, B), partner(B, A)])
    await Promise.all([start(A), start(B)])
    base = `http://127.0.0.1:${A.apiPort}`
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    // Offline: only the node itself may be asked; anything else is refused and fails the test.
    await context.route('**/*', (route) => {
      const u = new URL(route.request().url())
      if ((u.protocol === 'http:' && u.host === `127.0.0.1:${A.apiPort}`) || u.protocol === 'blob:' || u.protocol === 'data:') return route.continue()
      blocked.push(route.request().url())
      return route.abort()
    })
    context.on('request', (r) => sent.push(`${r.method()} ${r.url()} ${r.postData() ?? ''}`))
    page = await context.newPage()
    page.on('pageerror', (e) => pageErrors.push(e.message))
  })

  afterAll(async () => {
    await browser?.close()
    for (const c of cs) await c.node?.stop()
    await broker?.stop()
  })

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true })

  it('logs in with the API token (session storage only), shows the head with live blocks, labels every input and reaches search and verify by keyboard', async () => {
    await page.goto(`${base}/explorer`)
    await expect.poll(() => page.textContent('main [role=alert]'), { timeout: 10_000 }).toContain('API token')
    await page.fill('#token', TOKEN)
    await page.press('#token', 'Enter')
    await page.waitForSelector('#blocks tbody tr')
    expect(await page.textContent('h1')).toBe('Chain head')
    expect(await page.evaluate(() => [sessionStorage.getItem('profichain.apiToken'), localStorage.length, document.cookie])).toEqual([TOKEN, 0, ''])
    // Live: the SSE subscription adds the block of a new record to the list as it comes.
    await expect.poll(() => page.textContent('#live'), { timeout: 10_000 }).toMatch(/^live: (connected|block \d+)$/)
    await writeFile(join(cs[0].dir, 'inbox', 'reading-a.json'), content)
    rec = await waitFor('the record in a block', async () => {
      const d = await gql<{ transactions: { nodes: Array<{ id: string; height: number; block: { hash: string } }> } }>(cs[0], 'query($h: String!) { transactions(filter: { payloadHash: $h }) { nodes { id height block { hash } } } }', { h: payloadHash })
      return d.transactions.nodes[0]
    }, 20_000, 100)
    // The record's block shows up in the list without a reload.
    await page.waitForSelector(`#blocks tr.new a[href="#/block/${rec.block.hash}"]`, { timeout: 10_000 })
    expect(await page.textContent('#live')).toMatch(/^live: block \d+$/)
    await shot('chain')

    // Every input is labelled; Tab from the top reaches the search box, the token field and the nav links.
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input')].filter((i) => (i.labels?.length ?? 0) === 0).map((i) => i.id))
    expect(unlabelled).toEqual([])
    const tabbed: string[] = []
    // From the top of the page (the skip link is the first stop).
    await page.focus('a.skip')
    for (let i = 0; i < 14; i++) {
      await page.keyboard.press('Tab')
      tabbed.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent?.trim() || ''))
    }
    expect(tabbed).toContain('search')
    expect(tabbed).toContain('token')
    expect(tabbed.indexOf('Verify a file')).toBeGreaterThanOrEqual(0)
    // Keyboard: Enter on the nav link opens the verify view, whose controls come next in tab order.
    await page.focus('#nav a[href="#/verify"]')
    await page.keyboard.press('Enter')
    await page.waitForSelector('#verify-form')
    const verifyTabs: string[] = []
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Tab')
      verifyTabs.push(await page.evaluate(() => document.activeElement?.id ?? ''))
    }
    expect(verifyTabs).toEqual(expect.arrayContaining(['verify-file', 'verify-receipt', 'verify-button']))
    const verifyUnlabelled = await page.evaluate(() => [...document.querySelectorAll('input')].filter((i) => (i.labels?.length ?? 0) === 0).map((i) => i.id))
    expect(verifyUnlabelled).toEqual([])
  })

  it('searches a record by payload hash and by height, shows its metadata and archived state, and follows its block to the checkpoint the partner cosigned', async () => {
    const [A, B] = cs
    // The record is final, in a checkpoint, and beta's cosignature on that checkpoint is in.
    // The record is in a block; one more record puts a block on top, so the log (depth 1) takes the record's block.
    await writeFile(join(A.dir, 'inbox', 'reading-b.json'), '{"t": 22.0}\n')
    let last: unknown
    await waitFor(
      "a checkpoint covering the record's block, cosigned by beta",
      async () => {
        const d = await gql<{ checkpoint: { size: number; cosignatures: Array<{ witness: string }> } | null }>(A, '{ checkpoint { size cosignatures { witness } } }')
        last = d
        return d.checkpoint && d.checkpoint.size > rec.height && d.checkpoint.cosignatures.length > 0
      },
      25_000,
      200,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; last: ${JSON.stringify(last)}`)
    })
    await page.goto(`${base}/explorer#/`)
    await page.waitForSelector('#blocks')
    await page.fill('#search', payloadHash)
    await page.press('#search', 'Enter')
    await page.waitForURL(`**/explorer#/tx/${rec.id}`)
    await page.waitForSelector('#payload-state')
    expect(await page.textContent('main')).toContain(payloadHash)
    expect(await page.textContent('#payload-state')).toContain('archived')
    expect(await page.textContent('main')).toContain('file') // metadata of a file-watcher record (its file name)
    await shot('record')

    await page.fill('#search', String(rec.height))
    await page.press('#search', 'Enter')
    await page.waitForURL(`**/explorer#/block/${rec.block.hash}`)
    await page.waitForSelector(`main a[href="#/tx/${rec.id}"]`)
    // The view shows the latest checkpoint; a newer one (e.g. after beta's anchor tx lands in a block) waits for
    // beta's cosignature a moment: reload until the cosigned one shows.
    const witness = await waitFor(
      "the block's checkpoint with beta's cosignature",
      async () => {
        await page.reload()
        await page.waitForSelector('#block-checkpoint p')
        const text = (await page.textContent('#block-checkpoint')) ?? ''
        return text.includes('Cosigned by partner witnesses') ? text : undefined
      },
      20_000,
      250,
    )
    expect(witness).toContain(`Covered by checkpoint`)
    expect(witness).toContain(A.origin) // alpha's checkpoint…
    expect(witness).toContain(B.origin) // …cosigned by beta's witness
    await shot('block')
    await page.click('#block-checkpoint a.more')
    await page.waitForSelector('#own-checkpoint')
    const net = (await page.textContent('main')) ?? ''
    expect(net).toContain(B.origin) // the partner this node witnesses
    await shot('network')

    // Search by txId and by block hash too.
    await page.fill('#search', rec.id)
    await page.press('#search', 'Enter')
    await page.waitForURL(`**/explorer#/tx/${rec.id}`)
    await page.fill('#search', rec.block.hash.toUpperCase())
    await page.press('#search', 'Enter')
    await page.waitForURL(`**/explorer#/block/${rec.block.hash}`)

    // A device registered through GraphQL (alpha signs the device tx) is listed with its audit counters.
    const device = toHex(keyPairFromSeed(randomBytes(32)).publicKey)
    await gql(A, 'mutation($k: String!) { registerDevice(deviceId: "press-7", publicKey: $k, model: "P7") { txId } }', { k: device })
    await waitFor('the device registered', async () => (await gql<{ device: { publicKey: string } | null }>(A, 'query($k: String!) { device(publicKey: $k) { publicKey } }', { k: device })).device, 20_000, 200)
    await page.click('#nav a[href="#/devices"]')
    await page.waitForSelector('main h1:text-is("Devices")') // the whole view renders at once
    await page.waitForSelector('main table')
    const devices = (await page.textContent('main table')) ?? ''
    expect(devices).toContain('press-7')
    expect(devices).toContain('active')
    await shot('devices')
  })

  it('verifies the recorded file and its receipt in the browser (every step green) and a changed file (red at the first failing step); the file never leaves the page', async () => {
    const [A] = cs
    const receipt = join(A.dir, 'receipts', 'reading-a.json.chp.json')
    await waitFor('the receipt file', () => existsSync(receipt), 20_000)
    await page.goto(`${base}/explorer#/verify`)
    await page.setInputFiles('#verify-file', join(A.dir, 'processed', 'reading-a.json'))
    await page.setInputFiles('#verify-receipt', receipt)
    await page.click('#verify-button')
    await page.waitForSelector('#verify-outcome.ok, #verify-outcome.fail')
    const steps = await page.$$eval('#verify-steps li', (ls) => ls.map((l) => [l.getAttribute('data-step'), l.getAttribute('data-status'), l.textContent]))
    expect(steps.map((s) => s[1]), JSON.stringify(steps)).toEqual(Array(8).fill('ok'))
    expect(steps.map((s) => s[0])).toEqual(['hash', 'record', 'receipt', 'signature', 'proof', 'block', 'producer', 'genesis'])
    expect(await page.textContent('#verify-outcome')).toContain('verified, every step passed')
    await shot('verify-good')

    // The same file with one byte changed, dropped on the drop zone: the lookup by hash fails, nothing after runs.
    const changed = content.replace('21.5', '21.6')
    const dt = await page.evaluateHandle((text) => {
      const d = new DataTransfer()
      d.items.add(new File([text], 'reading-a.json'))
      return d
    }, changed)
    await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: dt })
    await page.waitForSelector('#verify-outcome.fail')
    const bad = await page.$$eval('#verify-steps li', (ls) => ls.map((l) => l.getAttribute('data-status')))
    expect(bad).toEqual(['ok', 'fail', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped'])
    expect(await page.textContent('#verify-steps li[data-step=record]')).toContain('the file was changed')
    await shot('verify-changed')

    // GraphiQL, from the node's own assets too.
    // The token from the explorer's session pre-fills GraphiQL's headers: its schema introspection is authorized.
    const introspection = page.waitForResponse((r) => r.url() === `${base}/graphql` && r.request().method() === 'POST', { timeout: 20_000 })
    await page.goto(`${base}/graphql`)
    await page.waitForSelector('.graphiql-container', { timeout: 20_000 })
    expect((await introspection).status()).toBe(200)
    await shot('graphiql')

    expect(blocked, 'requests to other hosts').toEqual([])
    expect(pageErrors, 'script errors in the page').toEqual([])
    expect(sent.filter((s) => s.includes(nonce) || s.includes('21.6')), 'requests carrying the file').toEqual([])
    expect(sent.some((s) => s.includes(payloadHash))).toBe(true) // only its hash was sent
  })
})
