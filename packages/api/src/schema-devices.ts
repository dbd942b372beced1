import { isHex } from '@profichain/core'
import type { WorkBudget } from './budget.js'
import { badInput, gqlError, hexArg } from './errors.js'

/**
 * Device identities over GraphQL (issue 14, docs/devices.md): the `devices` query reads the registry as of
 * the canonical head; `registerDevice` / `revokeDevice` make the node sign a `device` / `device-revoke` tx
 * with its member key and submit it. The mutations need an API token configured (a write path is never
 * open), and the node behind must be a member.
 */
export const deviceTypeDefs = /* GraphQL */ `
extend type Query {
  "Devices registered on the canonical chain (the registry as of the head), in registration order."
  devices(owner: String, includeRevoked: Boolean = true, first: Int = 100): [Device!]!
  "One device by its public key (hex), from the registry as of the head."
  device(publicKey: String!): Device
}

type Mutation {
  "Sign a device tx with this node's member key and submit it (needs api.token). The device may originate records from the block after the one that commits it."
  registerDevice(deviceId: String!, publicKey: String!, model: String, serial: String): DeviceTx!
  "Sign a device-revoke tx for a device this node owns and submit it (needs api.token)."
  revokeDevice(publicKey: String!, reason: String): DeviceTx!
}

"A device key registered by a member (DESIGN §12)."
type Device {
  "The device's Ed25519 public key (hex): the origin of its records."
  publicKey: String!
  deviceId: String!
  "The owning member's public key (hex)."
  owner: String!
  registeredHeight: Int!
  registeredBlock: String!
  registeredTx: String!
  revoked: Boolean!
  revokedHeight: Int
  revokedTx: String
  revokeReason: String
  "Txs of this device refused by this node as replays (another tx already used their seq)."
  replaysRefused: Int!
  "Txs of this device refused by this node after its key was revoked."
  revokedUseRefused: Int!
}

"A device or device-revoke tx this node signed and submitted."
type DeviceTx {
  txId: String!
  seq: Long!
  "The same request was submitted before (nothing new was signed)."
  duplicate: Boolean!
}
`

/** One device as the API returns it. */
export interface ApiDevice {
  publicKey: string
  deviceId: string
  owner: string
  registeredHeight: number
  registeredBlock: string
  registeredTx: string
  revoked: boolean
  revokedHeight: number | null
  revokedTx: string | null
  revokeReason: string | null
  replaysRefused: number
  revokedUseRefused: number
}

/** What the node provides for devices (Node: packages/node/src/device-api.ts). */
export interface ApiDevices {
  list(): ApiDevice[]
  register(input: { deviceId: string; publicKey: string; model?: string; serial?: string }): Promise<{ txId: string; seq: number; duplicate: boolean }>
  revoke(input: { publicKey: string; reason?: string }): Promise<{ txId: string; seq: number; duplicate: boolean }>
}

interface DeviceContext {
  components: { devices?: ApiDevices }
  budget: WorkBudget
  /** Whether the server requires a bearer token (then every request here carried a valid one). */
  writable: boolean
}

const DEVICE_RESULT_BYTES = 512

function devicesOf(ctx: DeviceContext): ApiDevices {
  const d = ctx.components.devices
  if (d === undefined) throw gqlError('FORBIDDEN', 'this node does not manage devices')
  return d
}

function writableDevices(ctx: DeviceContext): ApiDevices {
  if (!ctx.writable)
    throw gqlError('FORBIDDEN', 'device mutations need an API token: set api.token in the node config and send it as a bearer token')
  return devicesOf(ctx)
}

/** Turn the node's refusal (origin rule, bad field) into BAD_USER_INPUT with its code, so the CLI can print it. */
async function submit<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (err) {
    const e = err as { code?: unknown; message?: string; name?: string }
    // The request's fault (a rule or field refused); anything else (e.g. the store failing) stays internal.
    if (typeof e.code === 'string' && /^ERR_(ORIGIN_|DEVICE_|CODEC)/.test(e.code)) throw badInput(e.message ?? String(err), { reason: e.code })
    throw err
  }
}

function optionalText(v: string | null | undefined): string | undefined {
  return v === null || v === undefined ? undefined : v
}

export const deviceResolvers = {
  Query: {
    devices: (
      _: unknown,
      args: { owner?: string | null; includeRevoked?: boolean | null; first?: number | null },
      ctx: DeviceContext,
    ): ApiDevice[] => {
      const first = args.first ?? 100
      if (!Number.isInteger(first) || first < 0 || first > 10_000) throw badInput('first must be an integer in 0..10000', { argument: 'first' })
      const owner = args.owner == null ? undefined : (hexArg(args.owner, 32, 'owner'), args.owner.toLowerCase())
      const out = (ctx.components.devices?.list() ?? [])
        .filter((d) => (owner === undefined || d.owner === owner) && (args.includeRevoked !== false || !d.revoked))
        .slice(0, first)
      ctx.budget.charge(out.length, out.length * DEVICE_RESULT_BYTES)
      return out
    },
    device: (_: unknown, args: { publicKey: string }, ctx: DeviceContext): ApiDevice | null => {
      hexArg(args.publicKey, 32, 'publicKey')
      const key = args.publicKey.toLowerCase()
      return ctx.components.devices?.list().find((d) => d.publicKey === key) ?? null
    },
  },
  Mutation: {
    registerDevice: (
      _: unknown,
      args: { deviceId: string; publicKey: string; model?: string | null; serial?: string | null },
      ctx: DeviceContext,
    ) => {
      const devices = writableDevices(ctx)
      if (!isHex(args.publicKey, 32)) throw badInput('publicKey must be 64 hex characters', { argument: 'publicKey' })
      if (args.deviceId.length === 0) throw badInput('deviceId must not be empty', { argument: 'deviceId' })
      const model = optionalText(args.model)
      const serial = optionalText(args.serial)
      return submit(() =>
        devices.register({
          deviceId: args.deviceId,
          publicKey: args.publicKey.toLowerCase(),
          ...(model !== undefined ? { model } : {}),
          ...(serial !== undefined ? { serial } : {}),
        }),
      )
    },
    revokeDevice: (_: unknown, args: { publicKey: string; reason?: string | null }, ctx: DeviceContext) => {
      const devices = writableDevices(ctx)
      if (!isHex(args.publicKey, 32)) throw badInput('publicKey must be 64 hex characters', { argument: 'publicKey' })
      const reason = optionalText(args.reason)
      return submit(() => devices.revoke({ publicKey: args.publicKey.toLowerCase(), ...(reason !== undefined ? { reason } : {}) }))
    },
  },
}
