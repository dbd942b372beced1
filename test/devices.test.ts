// Issue 14 items 1 and 2 through the CLI against a real node: `profichain device add|list|revoke|rotate`
// (GraphQL mutations, token required), device records, replay and revoked-key refusals, `audit --origins`.
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createTransaction, readKeyFile, type Transaction, toHex, txIdHex } from '@profichain/core'
import { createNode, loadConfig, type ProfichainNode } from '@profichain/node'
import { checkIncomingTx } from '@profichain/store'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { cli, portBase, tempDir, waitFor } from './helpers.js'

const TOKEN = 'device-test-token-0123456789abcdef'
let node: ProfichainNode | undefined
afterAll(async () => {
  await node?.stop()
})

function randomPort(): number {
  return portBase()
}

describe('profichain device (real node, real LevelDB)', () => {
  it('adds, lists, rotates and revokes devices; the chain refuses replays and revoked keys; audit --origins reports them', async () => {
    const dir = join(await tempDir('devices'), 'n')
    const apiPort = randomPort()
    const init = await cli(['init', '--data-dir', dir, '--api-port', String(apiPort), '--p2p-port', String(apiPort + 1), '--block-time', '200'])
    expect(init.code, init.stderr).toBe(0)
    const configPath = join(dir, 'config.toml')
    await writeFile(configPath, (await readFile(configPath, 'utf8')).replace(/^# token = .*$/m, `token = "${TOKEN}"`))
    const config = await loadConfig(configPath)
    node = await createNode({ config, logger: pino({ level: 'silent' }) })
    await node.start()
    const n = node
    const api = ['--api', `http://127.0.0.1:${apiPort}`, '--token', TOKEN, '--json']
    const network = n.genesis.network

    // Without the token the mutation is refused.
    const noToken = await cli(['device', 'add', '--id', 'x', '--public-key', '11'.repeat(32), '--api', `http://127.0.0.1:${apiPort}`])
    expect(noToken.code).toBe(1)
    expect(noToken.stderr).toMatch(/bearer token/)

    // add: a key file generated here (0600), and a key generated on the device.
    const keyFile = join(dir, 'press-7.key')
    const added = await cli(['device', 'add', '--id', 'press-7', '--key-file', keyFile, '--model', 'T-1000', ...api])
    expect(added.code, added.stderr).toBe(0)
    const a = JSON.parse(added.stdout) as { publicKey: string; keyFile: string; txId: string; duplicate: boolean }
    expect(a.keyFile).toBe(keyFile)
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
    const press = await readKeyFile(keyFile)
    expect(toHex(press.publicKey)).toBe(a.publicKey)
    const camKey = 'ab'.repeat(32)
    const cam = await cli(['device', 'add', '--id', 'cam-1', '--public-key', camKey, ...api])
    expect(cam.code, cam.stderr).toBe(0)
    // Asking again is idempotent.
    expect(JSON.parse((await cli(['device', 'add', '--id', 'cam-1', '--public-key', camKey, ...api])).stdout).duplicate).toBe(true)
    const list = await waitFor('both devices registered', async () => {
      const r = await cli(['device', 'list', ...api])
      const rows = JSON.parse(r.stdout) as Array<{ deviceId: string; publicKey: string; owner: string; revoked: boolean }>
      return rows.length === 2 && rows
    }, 30_000)
    expect(list.map((d) => d.deviceId).sort()).toEqual(['cam-1', 'press-7'])
    expect(list.every((d) => d.owner === toHex(n.key.publicKey) && !d.revoked)).toBe(true)

    // Device records (what the ingest API will submit): accepted, committed; a replay refused.
    const rec = (seq: number, text: string): Transaction => createTransaction(press, { network, seq, payload: new TextEncoder().encode(text) })
    const records = [rec(0, 'r0'), rec(1, 'r1'), rec(3, 'r3')]
    for (const r of records) expect(checkIncomingTx(r, { store: n.tree })).toEqual({ ok: true })
    await n.tree.mempool.add(records)
    await waitFor('device records committed', async () => (await n.tree.getTxs(records.map(txIdHex))).every((l) => l !== undefined), 30_000)
    expect(checkIncomingTx(records[0], { store: n.tree })).toEqual({ ok: true, duplicate: true })
    expect(checkIncomingTx(rec(1, 'forged'), { store: n.tree })).toMatchObject({ ok: false, code: 'REPLAY' })

    // rotate: new key under the same id, old key revoked, in one go.
    const newKeyFile = join(dir, 'press-7b.key')
    const rotated = await cli(['device', 'rotate', '--public-key', a.publicKey, '--key-file', newKeyFile, ...api])
    expect(rotated.code, rotated.stderr).toBe(0)
    const rot = JSON.parse(rotated.stdout) as { publicKey: string; deviceId: string }
    expect(rot.deviceId).toBe('press-7')
    await waitFor('old key revoked, new key registered', () => n.tree.devices.get(a.publicKey)?.revoked !== undefined && n.tree.devices.get(rot.publicKey)?.deviceId === 'press-7', 30_000)
    const late = rec(4, 'after rotation')
    expect(checkIncomingTx(late, { store: n.tree })).toMatchObject({ ok: false, code: 'REVOKED' })
    expect(await n.tree.mempool.add([late])).toBe(0)

    // revoke; revoking again is idempotent; list shows the state.
    expect((await cli(['device', 'revoke', '--public-key', camKey, '--reason', 'decommissioned', ...api])).code).toBe(0)
    await waitFor('cam-1 revoked', () => n.tree.devices.get(camKey)?.revoked !== undefined, 30_000)
    // Address and token from the node's config.
    const human = await cli(['device', 'list', '--data-dir', dir])
    expect(human.stdout).toMatch(/cam-1 .* revoked at \d+ \(decommissioned\)/)
    expect(human.stdout).toMatch(/press-7 .* active/)

    await n.stop()
    node = undefined
    // audit --origins on the node's LevelDB: the refused replay and revoked-key use are evidence (exit 1).
    const audit = await cli(['audit', '--data-dir', dir, '--origins', '--json'])
    expect(audit.code, audit.stderr).toBe(1)
    const report = JSON.parse(audit.stdout) as { tampering: boolean; origins: Array<Record<string, unknown>> }
    expect(report.tampering).toBe(true)
    expect(report.origins.find((o) => o.origin === a.publicKey)).toMatchObject({
      role: 'device',
      name: 'press-7',
      records: 3,
      seqMin: 0,
      seqMax: 3,
      gaps: 1,
      replaysRefused: 1,
      revokedUseRefused: 2,
      replayEvidence: 1,
      tampering: true,
    })
    expect(report.origins.find((o) => o.origin === rot.publicKey)).toMatchObject({ role: 'device', records: 0, tampering: false })
    const text = await cli(['audit', '--data-dir', dir, '--origins'])
    expect(text.stdout).toMatch(/^TAMPERING device press-7 /m)
    expect(text.stdout).toMatch(/EVIDENCE OF TAMPERING/)
  })
})
