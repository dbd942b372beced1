// Shared fixtures of the broker tests: two partner networks, free ports, a self-signed certificate, mosquitto.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { generateKeyPair, type KeyPair, utf8 } from '@profichain/core'
import { Registry } from 'prom-client'
import { expect } from 'vitest'
import {
  type BrokerLink,
  type BrokerLinkInit,
  type BrokerPartner,
  brokerClientId,
  createBrokerLink,
  generateHpkeKeyPair,
  type HpkeKeyPair,
} from '../src/index.js'

export interface Party {
  network: string
  signingKey: KeyPair
  hpke: HpkeKeyPair
}

export function party(network: string): Party {
  return { network, signingKey: generateKeyPair(), hpke: generateHpkeKeyPair() }
}

export function asPartner(p: Party): BrokerPartner {
  return { network: p.network, hpkePublicKey: p.hpke.publicKey, signingKeys: [p.signingKey.publicKey] }
}

/** A started link of `me` that knows `partners`, with its own registry; resolves once connected and subscribed. */
export async function startLink(
  url: string,
  me: Party,
  partners: BrokerPartner[],
  extra: Partial<BrokerLinkInit> = {},
): Promise<{ link: BrokerLink; registry: Registry }> {
  const registry = new Registry()
  const link = createBrokerLink(
    {
      url,
      clientId: brokerClientId(me.signingKey.publicKey),
      self: { network: me.network, signingKey: me.signingKey, hpkeKeyPair: me.hpke },
      partners: () => partners,
      resendIntervalMs: 200,
      requestTimeoutMs: 10_000,
      ...extra,
    },
    { registry },
  )
  const connected = new Promise<void>((resolve) => link.once('connected', () => resolve()))
  link.on('error', () => {}) // reconnect attempts while a broker is down report errors; the tests look at outcomes
  await link.start()
  await withDeadline(connected, 10_000, `link of ${me.network} did not connect to ${url}`)
  return { link, registry }
}

export async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  try {
    return await Promise.race([p, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** Poll `check` until it returns true (every 20 ms), failing with `what` after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The value of `profichain_broker_rejected_total{reason}` in a link's registry. */
export async function rejected(registry: Registry, reason: string): Promise<number> {
  const metric = registry.getSingleMetric('profichain_broker_rejected_total')
  if (!metric) return 0
  const { values } = await metric.get()
  return values.find((v) => v.labels.reason === reason)?.value ?? 0
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** A self-signed certificate for 127.0.0.1/localhost made with the openssl CLI. */
export async function selfSignedCert(): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-broker-cert-'))
  try {
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      ],
      { stdio: 'pipe' },
    )
    return { key: await readFile(join(dir, 'key.pem'), 'utf8'), cert: await readFile(join(dir, 'cert.pem'), 'utf8') }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export const MOSQUITTO = '/usr/sbin/mosquitto'

/** A real mosquitto on a free port (plain MQTT on 127.0.0.1, no persistence), stopped by the returned function. */
export async function startMosquitto(opts: { port?: number } = {}): Promise<{ url: string; stop: () => Promise<void> }> {
  if (!existsSync(MOSQUITTO)) {
    throw new Error(`${MOSQUITTO} is missing: install Debian's mosquitto (apt-get install mosquitto; .ci/run does it)`)
  }
  const dir = await mkdtemp(join(tmpdir(), 'pc-mosquitto-'))
  const port = opts.port ?? (await freePort())
  const conf = join(dir, 'mosquitto.conf')
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n`)
  const child: ChildProcess = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await until(
      () =>
        new Promise<boolean>((resolve) => {
          if (child.exitCode !== null) throw new Error(`mosquitto exited: ${stderr}`)
          const s = netConnect(port, '127.0.0.1')
          s.once('connect', () => {
            s.destroy()
            resolve(true)
          })
          s.once('error', () => resolve(false))
        }),
      10_000,
      `mosquitto listening on ${port} (${stderr})`,
    )
  } catch (err) {
    await stop()
    throw err
  }
  return { url: `mqtt://127.0.0.1:${port}`, stop }
}

/** Request/response and one-way send between two links; returns what B's handlers saw. */
export async function exchange(la: BrokerLink, lb: BrokerLink, aNetwork: string, bNetwork: string) {
  const seen: Array<{ network: string; body: Uint8Array }> = []
  lb.handle('echo/1', async (from, body) => {
    seen.push({ network: from.network, body })
    return Uint8Array.from([...body].reverse())
  })
  const notes: Uint8Array[] = []
  lb.handle('note/1', async (_from, body) => {
    notes.push(body)
    return new Uint8Array(0)
  })
  const body = new Uint8Array(randomBytes(300))
  const reply = await la.request(bNetwork, 'echo/1', body)
  expect(reply).toEqual(Uint8Array.from([...body].reverse()))
  expect(seen).toHaveLength(1)
  expect(seen[0]?.network).toBe(aNetwork)
  await la.send(bNetwork, 'note/1', utf8('one-way'))
  expect(notes).toEqual([utf8('one-way')])
  // and the other way round
  la.handle('echo/1', async (_f, b) => b)
  expect(await lb.request(aNetwork, 'echo/1', utf8('back'))).toEqual(utf8('back'))
}

