// End to end (issue 10 item 17): every example in docs/api.md runs, as written, against a real node.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parse as parseGraphql } from 'graphql'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, portBase, ROOT, type RunningNode, startNode, tempDir, waitFor } from './helpers.js'

interface Example {
  lang: string
  code: string
  /** 1-based line of the opening fence in docs/api.md, for failure messages. */
  line: number
}

/** Every fenced code block of a Markdown text. */
function fencedBlocks(md: string): Example[] {
  const out: Example[] = []
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm
  for (let m = re.exec(md); m; m = re.exec(md)) {
    out.push({ lang: m[1], code: m[2], line: md.slice(0, m.index).split('\n').length })
  }
  return out
}

type GqlBody = { data?: Record<string, unknown> | null; errors?: Array<{ message: string }> }

const CSV = 'ts,temperature\n2026-01-01T00:00:00Z,21.5\n2026-01-01T00:01:00Z,21.7\n'
const sha256Hex = (s: string | Buffer) => createHash('sha256').update(s).digest('hex')

let node: RunningNode | undefined
const streams: ChildProcess[] = []
let dir: string
let work: string
let api: string
let examples: Example[]

/** Drop a file into the node's inbox (written aside, then renamed in: the atomic-writer convention). */
async function drop(name: string, content: string): Promise<void> {
  const inbox = join(dir, 'inbox')
  await mkdir(join(inbox, name, '..'), { recursive: true })
  await writeFile(join(dir, `.${name.replace(/\//g, '_')}.tmp`), content)
  await rename(join(dir, `.${name.replace(/\//g, '_')}.tmp`), join(inbox, name))
}

async function post(query: string, variables: Record<string, unknown> = {}): Promise<GqlBody> {
  const r = await fetch(`${api}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
  })
  expect(r.status).toBe(200)
  return (await r.json()) as GqlBody
}

beforeAll(async () => {
  examples = fencedBlocks(await readFile(join(ROOT, 'docs/api.md'), 'utf8'))
  const base = portBase()
  dir = join(await tempDir('api-docs'), 'node')
  work = await tempDir('api-docs-work')
  const r = await cli(['init', '--type', 'full', '--data-dir', dir, '--p2p-port', String(base), '--api-port', String(base + 1)])
  expect(r.code, r.stderr).toBe(0)
  const cfg = join(dir, 'config.toml')
  await writeFile(cfg, (await readFile(cfg, 'utf8')).replace('stable_ms = 500', 'stable_ms = 200'))
  node = await startNode(dir)
  api = `http://127.0.0.1:${base + 1}`
  // The records the examples look for: machine-42.csv (by payload hash) and line-3/press-7.csv (by metadata).
  await writeFile(join(work, 'machine-42.csv'), CSV)
  await drop('machine-42.csv', CSV)
  await drop('line-3/press-7.csv', 'ts,pressure\n2026-01-01T00:00:00Z,7.1\n')
  await waitFor(
    'machine-42.csv committed',
    async () => {
      const b = await post('query($h: String!) { transactions(filter: { payloadHash: $h }) { nodes { id } } }', { h: sha256Hex(CSV) })
      return (b.data?.transactions as { nodes: unknown[] } | undefined)?.nodes.length
    },
    60_000,
    200,
  )
})

afterAll(async () => {
  for (const s of streams) if (s.pid && s.exitCode === null) process.kill(-s.pid, 'SIGTERM')
  await node?.stop()
})

describe('docs/api.md examples', () => {
  it('has only sh and graphql examples, enough of them to matter', () => {
    expect(examples.map((e) => e.lang).filter((l) => l !== 'sh' && l !== 'graphql')).toEqual([])
    expect(examples.filter((e) => e.lang === 'sh').length).toBeGreaterThanOrEqual(7)
    expect(examples.filter((e) => e.lang === 'graphql').length).toBeGreaterThanOrEqual(4)
  })

  it('runs every shell example in one session, top to bottom, without an error', async () => {
    const sh = examples.filter((e) => e.lang === 'sh' && !e.code.includes('curl -N'))
    const out = join(work, 'out')
    await mkdir(out, { recursive: true })
    // One bash session, as a reader would paste them; each example's output and status kept apart.
    const script = ['set -o pipefail', ...sh.map((e, i) => `{\n${e.code}\n} >"${out}/${i}.out" 2>"${out}/${i}.err"; echo $? >"${out}/${i}.rc"`)].join('\n')
    await new Promise<void>((resolve, reject) => {
      execFile('bash', ['-c', script], { cwd: work, env: { ...process.env, API: api }, timeout: 60_000 }, (err) => (err ? reject(err) : resolve()))
    })
    const results = await Promise.all(
      sh.map(async (e, i) => ({
        e,
        rc: (await readFile(join(out, `${i}.rc`), 'utf8')).trim(),
        stdout: await readFile(join(out, `${i}.out`), 'utf8'),
        stderr: await readFile(join(out, `${i}.err`), 'utf8'),
      })),
    )
    const id = results.find((r) => r.e.code.includes('ID=$('))?.stdout.trim()
    for (const { e, rc, stdout, stderr } of results) {
      const where = `docs/api.md:${e.line}\n${e.code}\nstdout: ${stdout.slice(0, 2000)}\nstderr: ${stderr}`
      expect(rc, where).toBe('0')
      expect(stderr, where).toBe('')
      // A GraphQL answer (q prints the whole JSON body) has data and no errors.
      if (/^\{"(data|errors)"/.test(stdout.trimStart())) {
        const body = JSON.parse(stdout) as GqlBody
        expect(body.errors, where).toBeUndefined()
        for (const v of Object.values(body.data ?? {})) expect(v, where).not.toBeNull()
      }
      if (e.code.includes('HASH=$(')) {
        const body = JSON.parse(stdout) as { data: { transactions: { nodes: Array<{ id: string; payloadHeld: boolean }> } } }
        expect(body.data.transactions.nodes.length, where).toBeGreaterThanOrEqual(1)
        expect(body.data.transactions.nodes[0].payloadHeld, where).toBe(true)
      }
      if (e.code.includes('ID=$(')) expect(stdout.trim(), where).toMatch(/^[0-9a-f]{64}$/)
      if (e.code.includes('record.bin')) expect(stdout, where).toContain(sha256Hex(CSV))
      if (e.code.includes('record.chp.json')) {
        const receipt = JSON.parse(await readFile(join(work, 'record.chp.json'), 'utf8')) as { hash: string }
        expect(receipt.hash, where).toBe(sha256Hex(CSV))
        // The anchor URI answered the block hash of the record's block.
        const tx = await post('query($id: String!) { transaction(id: $id) { blockHash } }', { id })
        expect(stdout.trim(), where).toBe((tx.data?.transaction as { blockHash: string }).blockHash)
      }
      if (e.code.includes('/healthz')) {
        expect(stdout, where).toContain('"status":"ready"')
        expect(stdout, where).toContain('profichain_api_requests_total')
      }
    }
    expect(id).toMatch(/^[0-9a-f]{64}$/)
  })

  it('runs every GraphQL example without an error', async () => {
    const id = ((await post('query($h: String!) { transactions(filter: { payloadHash: $h }) { nodes { id } } }', { h: sha256Hex(CSV) })).data?.transactions as { nodes: Array<{ id: string }> }).nodes[0].id
    // Required variables the examples use; optional ones ($after) start unset, as on a first page.
    const known: Record<string, unknown> = { id }
    for (const e of examples.filter((x) => x.lang === 'graphql')) {
      const doc = parseGraphql(e.code)
      const vars: Record<string, unknown> = {}
      for (const def of doc.definitions) {
        if (def.kind !== 'OperationDefinition') continue
        for (const v of def.variableDefinitions ?? []) {
          const name = v.variable.name.value
          if (name in known) vars[name] = known[name]
          else expect(v.type.kind, `docs/api.md:${e.line}: no value for required $${name}`).not.toBe('NonNullType')
        }
      }
      const body = await post(e.code, vars)
      const where = `docs/api.md:${e.line}\n${e.code}\n${JSON.stringify(body).slice(0, 2000)}`
      expect(body.errors, where).toBeUndefined()
      expect(body.data, where).toBeTruthy()
      for (const v of Object.values(body.data ?? {})) expect(v, where).not.toBeNull()
    }
  })

  it('follows new blocks with the server-sent events example', async () => {
    const e = examples.find((x) => x.lang === 'sh' && x.code.includes('curl -N'))
    expect(e).toBeDefined()
    const setup = examples.find((x) => x.lang === 'sh' && x.code.includes('q() {'))
    const child = spawn('bash', ['-c', `${setup?.code ?? ''}\n${e?.code ?? ''}`], { cwd: work, env: { ...process.env, API: api }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    streams.push(child)
    let out = ''
    child.stdout?.on('data', (d) => {
      out += d
    })
    let n = 0
    // Records make blocks; keep adding them until one arrives on the stream.
    await waitFor(
      'a newBlocks event',
      async () => {
        if (out.includes('event: next')) return true
        await drop(`sse/reading-${n++}.txt`, `reading ${n}\n`)
        return false
      },
      60_000,
      500,
    )
    const data = out.split('\n').find((l) => l.startsWith('data: {"data"'))
    expect(data, out).toBeDefined()
    const block = (JSON.parse((data ?? '').slice(6)) as { data: { newBlocks: { height: number; hash: string; txIds: string[] } } }).data.newBlocks
    expect(block.height).toBeGreaterThan(0)
    expect(block.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(Array.isArray(block.txIds)).toBe(true)
  })
})
