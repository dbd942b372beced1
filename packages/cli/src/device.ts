import { join, resolve } from 'node:path'
import { generateKeyPair, isHex, toHex, writeKeyFile } from '@profichain/core'
import { loadConfig } from '@profichain/node'
import type { OriginsReport } from '@profichain/store'
import { Command } from 'commander'
import { graphql } from './api-client.js'
import { CliError } from './util.js'

/**
 * `profichain device add|list|revoke|rotate` (issue 14, docs/devices.md): through a running node's API
 * (bearer token required: the node signs device txs with its member key), and the `audit --origins` output.
 */

const DEVICE_FIELDS =
  'publicKey deviceId owner registeredHeight registeredBlock registeredTx revoked revokedHeight revokedTx revokeReason replaysRefused revokedUseRefused'

interface DeviceRow {
  publicKey: string
  deviceId: string
  owner: string
  registeredHeight: number
  revoked: boolean
  revokedHeight: number | null
  revokeReason: string | null
  replaysRefused: number
  revokedUseRefused: number
}

interface DeviceTxResult {
  txId: string
  seq: number
  duplicate: boolean
}

const REGISTER = `mutation ($deviceId: String!, $publicKey: String!, $model: String, $serial: String) {
  registerDevice(deviceId: $deviceId, publicKey: $publicKey, model: $model, serial: $serial) { txId seq duplicate } }`
const REVOKE = `mutation ($publicKey: String!, $reason: String) { revokeDevice(publicKey: $publicKey, reason: $reason) { txId seq duplicate } }`

function publicKeyArg(v: string, flag: string): string {
  if (!isHex(v, 32)) throw new CliError('ERR_CLI_USAGE', `${flag} must be the device's Ed25519 public key as 64 hex characters`)
  return v.toLowerCase()
}

/** The device key: given (generated on the device), or generated here into a new 0600 key file. */
async function deviceKey(o: { publicKey?: string; keyFile?: string }, id: string): Promise<{ publicKey: string; keyFile?: string }> {
  if (o.publicKey) {
    if (o.keyFile) throw new CliError('ERR_CLI_USAGE', 'give either --public-key (key generated on the device) or --key-file (generate one here), not both')
    return { publicKey: publicKeyArg(o.publicKey, '--public-key') }
  }
  const keyFile = resolve(o.keyFile ?? `${id.replace(/[^A-Za-z0-9._-]/g, '_')}.key`)
  const kp = generateKeyPair()
  // Refuses to overwrite (ERR_KEY_EXISTS); mode 0600.
  await writeKeyFile(keyFile, kp)
  return { publicKey: toHex(kp.publicKey), keyFile }
}

function print(json: boolean, value: Record<string, unknown>, lines: string[]): void {
  if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
  else process.stdout.write(`${lines.join('\n')}\n`)
}

function apiOptions(cmd: Command): Command {
  return cmd
    .option('--api <url>', 'node API base URL (default: from --data-dir, else http://127.0.0.1:8545)')
    .option('--token <token>', 'API bearer token (or PROFICHAIN_API_TOKEN; default: from --data-dir)')
    .option('--data-dir <dir>', "take the API address and token from this node's config.toml")
    .option('--json', 'print JSON')
    .hook('preAction', async (_, action) => {
      const o = action.opts<{ api?: string; token?: string; dataDir?: string }>()
      if (o.dataDir) {
        const config = await loadConfig(join(resolve(o.dataDir), 'config.toml'))
        if (!o.api) action.setOptionValue('api', `http://${config.api.host}:${config.api.port}`)
        if (!o.token && config.api.token) action.setOptionValue('token', config.api.token)
      }
      if (!action.opts<{ api?: string }>().api) action.setOptionValue('api', 'http://127.0.0.1:8545')
    })
}

async function register(
  o: { api: string; token?: string },
  input: { deviceId: string; publicKey: string; model?: string; serial?: string },
): Promise<DeviceTxResult> {
  const r = await graphql<{ registerDevice: DeviceTxResult }>(o.api, REGISTER, { model: null, serial: null, ...input }, o.token)
  return r.registerDevice
}

async function revoke(o: { api: string; token?: string }, publicKey: string, reason?: string): Promise<DeviceTxResult> {
  const r = await graphql<{ revokeDevice: DeviceTxResult }>(o.api, REVOKE, { publicKey, reason: reason ?? null }, o.token)
  return r.revokeDevice
}

/** The `device` command group. */
export function deviceCommand(): Command {
  const device = new Command('device').description("register, list, revoke and rotate device keys (through a running node's API, token required)")

  apiOptions(
    device
      .command('add')
      .description("register a device: the node signs a device tx with its member key; prints the new key file, or give --public-key generated on the device")
      .requiredOption('--id <deviceId>', 'device id (name), e.g. press-7')
      .option('--public-key <hex>', "the device's Ed25519 public key (generated on the device)")
      .option('--key-file <file>', 'where to write a new device key (PKCS#8 PEM, mode 0600); default ./<id>.key')
      .option('--model <model>', 'device model')
      .option('--serial <serial>', 'device serial number'),
  ).action(async (o) => {
    const key = await deviceKey(o, o.id)
    const r = await register(o, { deviceId: o.id, publicKey: key.publicKey, ...(o.model ? { model: o.model } : {}), ...(o.serial ? { serial: o.serial } : {}) })
    print(o.json === true, { deviceId: o.id, publicKey: key.publicKey, ...(key.keyFile ? { keyFile: key.keyFile } : {}), ...r }, [
      `device ${o.id} ${key.publicKey}`,
      ...(key.keyFile ? [`key file ${key.keyFile} (mode 0600): copy it to the device and keep it secret`] : []),
      `${r.duplicate ? 'already submitted' : 'submitted'}: device tx ${r.txId} (seq ${r.seq}); the device may send records once it is committed`,
    ])
  })

  apiOptions(
    device
      .command('list')
      .description('devices registered on the canonical chain')
      .option('--owner <hex>', "only devices of this member (public key)")
      .option('--active', 'leave out revoked devices'),
  ).action(async (o) => {
    const r = await graphql<{ devices: DeviceRow[] }>(
      o.api,
      `query ($owner: String, $all: Boolean) { devices(owner: $owner, includeRevoked: $all, first: 10000) { ${DEVICE_FIELDS} } }`,
      { owner: o.owner ? publicKeyArg(o.owner, '--owner') : null, all: o.active !== true },
      o.token,
    )
    if (o.json) {
      process.stdout.write(`${JSON.stringify(r.devices, null, 2)}\n`)
      return
    }
    if (r.devices.length === 0) process.stdout.write('no devices registered\n')
    for (const d of r.devices) {
      const state = d.revoked ? `revoked at ${d.revokedHeight}${d.revokeReason ? ` (${d.revokeReason})` : ''}` : 'active'
      process.stdout.write(
        `${d.deviceId.padEnd(20)} ${d.publicKey} owner ${d.owner.slice(0, 16)}… registered at ${d.registeredHeight}, ${state}; refused: ${d.replaysRefused} replays, ${d.revokedUseRefused} revoked-key uses\n`,
      )
    }
  })

  apiOptions(
    device
      .command('revoke')
      .description('revoke a device key (signed by the node, which must own the device)')
      .requiredOption('--public-key <hex>', "the device's public key")
      .option('--reason <text>', 'why (kept on the chain)'),
  ).action(async (o) => {
    const pk = publicKeyArg(o.publicKey, '--public-key')
    const r = await revoke(o, pk, o.reason)
    print(o.json === true, { publicKey: pk, ...r }, [`${r.duplicate ? 'already submitted' : 'submitted'}: device-revoke tx ${r.txId} (seq ${r.seq}) for ${pk}`])
  })

  apiOptions(
    device
      .command('rotate')
      .description("rotate a device's key in one go: register the new key under the same device id, then revoke the old one")
      .requiredOption('--public-key <hex>', "the device's current public key")
      .option('--new-public-key <hex>', 'the new public key (generated on the device)')
      .option('--key-file <file>', 'where to write a new key (mode 0600); default ./<id>.key')
      .option('--reason <text>', 'revocation reason', 'key rotation'),
  ).action(async (o) => {
    const old = publicKeyArg(o.publicKey, '--public-key')
    const found = await graphql<{ device: DeviceRow | null }>(o.api, `query ($k: String!) { device(publicKey: $k) { ${DEVICE_FIELDS} } }`, { k: old }, o.token)
    if (!found.device) throw new CliError('ERR_CLI_NOT_FOUND', `no device with key ${old} is registered on the node's canonical chain`)
    if (found.device.revoked) throw new CliError('ERR_CLI_USAGE', `device ${found.device.deviceId} (${old}) is already revoked; register a new key with device add`)
    const id = found.device.deviceId
    const key = await deviceKey({ publicKey: o.newPublicKey, keyFile: o.keyFile }, id)
    const added = await register(o, { deviceId: id, publicKey: key.publicKey })
    const revoked = await revoke(o, old, o.reason)
    print(o.json === true, { deviceId: id, oldPublicKey: old, publicKey: key.publicKey, ...(key.keyFile ? { keyFile: key.keyFile } : {}), registered: added, revoked }, [
      `device ${id}: new key ${key.publicKey}`,
      ...(key.keyFile ? [`key file ${key.keyFile} (mode 0600): copy it to the device and keep it secret`] : []),
      `submitted: device tx ${added.txId} (seq ${added.seq}), device-revoke tx ${revoked.txId} (seq ${revoked.seq}) for ${old}`,
    ])
  })
  const examples: Record<string, string> = {
    add: 'profichain device add --id press-7 --token $TOKEN              # writes ./press-7.key (0600)\nprofichain device add --id cam-1 --public-key <64 hex> --token $TOKEN',
    list: 'profichain device list --api http://127.0.0.1:8545 --token $TOKEN',
    revoke: 'profichain device revoke --public-key <64 hex> --reason stolen --token $TOKEN',
    rotate: 'profichain device rotate --public-key <old 64 hex> --key-file ./press-7-2.key --token $TOKEN',
  }
  for (const c of device.commands) {
    const ex = examples[c.name()]
    if (ex) c.addHelpText('after', `\nExample:\n  ${ex.split('\n').join('\n  ')}\n`)
  }
  device.addHelpText('after', `\nExample:\n  ${examples.add.split('\n')[0]}\n`)
  return device
}

/** Human-readable `audit --origins` report; the caller sets the exit code from `report.tampering`. */
export function formatOriginsReport(report: OriginsReport): string {
  const out: string[] = []
  for (const o of report.origins) {
    const who = `${o.role} ${o.name ?? ''} ${o.origin}`.replace(/\s+/g, ' ')
    const range = o.seqMin === undefined ? 'no records' : `${o.records} records, seq ${o.seqMin}..${o.seqMax}`
    const gaps = o.gaps > 0 ? `, ${o.gaps} missing seq(s) ${o.gapRanges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(' ')}${o.gapRanges.length < o.gaps ? '…' : ''}` : ''
    const device = o.role === 'device' ? `, owner ${o.owner?.slice(0, 16)}…, registered at ${o.registeredHeight}${o.revokedHeight !== undefined ? `, revoked at ${o.revokedHeight}` : ''}` : ''
    out.push(`${o.tampering ? 'TAMPERING' : 'ok'.padEnd(9)} ${who}: ${range}${gaps}, ${o.reorders} reordered, ${o.seqReuse} seq reuse, ${o.replaysRefused} replays refused, ${o.revokedUseRefused} revoked-key uses refused, ${o.replayEvidence} replay evidence, ${o.outsideRegistration} outside registration${device}`)
  }
  if (report.unknownRefused > 0) out.push(`refused ${report.unknownRefused} tx(s) of keys that are neither members nor registered devices (not kept per key)`)
  out.push(`${report.origins.length} origin(s): ${report.tampering ? 'EVIDENCE OF TAMPERING (see TAMPERING lines)' : 'no evidence of tampering'}`)
  return `${out.join('\n')}\n`
}
