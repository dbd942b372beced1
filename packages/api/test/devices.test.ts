import { ConsensusError } from '@profichain/consensus'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiDevice, type ApiDevices, type ApiServer, createApiServer } from '../src/index.js'
import { gql, TestChain } from './chain.js'

// Issue 14: GraphQL `devices` and the token-protected device mutations (the node side is a fake here).
const TOKEN = 'api-devices-token-0123456789'
const D1: ApiDevice = {
  publicKey: '11'.repeat(32),
  deviceId: 'press-7',
  owner: 'aa'.repeat(32),
  registeredHeight: 3,
  registeredBlock: '01'.repeat(32),
  registeredTx: '02'.repeat(32),
  revoked: false,
  revokedHeight: null,
  revokedTx: null,
  revokeReason: null,
  replaysRefused: 2,
  revokedUseRefused: 0,
}
const D2: ApiDevice = { ...D1, publicKey: '22'.repeat(32), deviceId: 'cam-1', owner: 'bb'.repeat(32), revoked: true, revokedHeight: 9, revokedTx: '03'.repeat(32), revokeReason: 'stolen' }

let chain: TestChain
const servers: ApiServer[] = []
const calls: unknown[] = []
const devices: ApiDevices = {
  list: () => [D1, D2],
  register: async (input) => {
    calls.push(input)
    if (input.publicKey === D1.publicKey)
      throw new ConsensusError('ERR_DEVICE_TX', 'the key is already registered', { txId: '', origin: '', index: 0, deviceKey: D1.publicKey })
    return { txId: '04'.repeat(32), seq: 7, duplicate: false }
  },
  revoke: async () => ({ txId: '05'.repeat(32), seq: 8, duplicate: true }),
}

async function serve(token?: string): Promise<string> {
  const s = createApiServer({ port: 0, ...(token ? { token } : {}) }, chain.components({ devices }))
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

describe('GraphQL devices', () => {
  it('lists devices, filtered by owner and revocation; one by key', async () => {
    const url = await serve()
    const all = await gql(url, '{ devices { publicKey deviceId owner revoked revokedHeight revokeReason replaysRefused } }')
    expect(all.body.errors).toBeUndefined()
    expect(all.body.data.devices.map((d: ApiDevice) => d.deviceId)).toEqual(['press-7', 'cam-1'])
    const active = await gql(url, '{ devices(includeRevoked: false) { deviceId } }')
    expect(active.body.data.devices).toEqual([{ deviceId: 'press-7' }])
    const owned = await gql(url, `{ devices(owner: "${'BB'.repeat(32)}") { deviceId revokeReason } }`)
    expect(owned.body.data.devices).toEqual([{ deviceId: 'cam-1', revokeReason: 'stolen' }])
    const one = await gql(url, `{ device(publicKey: "${D1.publicKey}") { deviceId replaysRefused } }`)
    expect(one.body.data.device).toEqual({ deviceId: 'press-7', replaysRefused: 2 })
    expect((await gql(url, '{ device(publicKey: "zz") { deviceId } }')).body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT')
  })

  it('refuses the mutations without a configured token (even on loopback)', async () => {
    const url = await serve()
    const r = await gql(url, `mutation { registerDevice(deviceId: "x", publicKey: "${'33'.repeat(32)}") { txId } }`)
    expect(r.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    expect(r.body.errors?.[0]?.message).toMatch(/api\.token/)
    expect(calls).toHaveLength(0)
  })

  it('with the token: submits, answers duplicates, and turns a rule refusal into BAD_USER_INPUT with its code', async () => {
    const url = await serve(TOKEN)
    const auth = { authorization: `Bearer ${TOKEN}` }
    expect((await gql(url, '{ devices { deviceId } }')).status).toBe(401)
    const ok = await gql(url, `mutation { registerDevice(deviceId: "m-1", publicKey: "${'33'.repeat(32)}", model: "T") { txId seq duplicate } }`, {}, auth)
    expect(ok.body.data.registerDevice).toEqual({ txId: '04'.repeat(32), seq: 7, duplicate: false })
    expect(calls.at(-1)).toEqual({ deviceId: 'm-1', publicKey: '33'.repeat(32), model: 'T' })
    const refused = await gql(url, `mutation { registerDevice(deviceId: "again", publicKey: "${D1.publicKey}") { txId } }`, {}, auth)
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'ERR_DEVICE_TX' })
    const rev = await gql(url, `mutation { revokeDevice(publicKey: "${D2.publicKey}", reason: "stolen") { txId seq duplicate } }`, {}, auth)
    expect(rev.body.data.revokeDevice).toEqual({ txId: '05'.repeat(32), seq: 8, duplicate: true })
    const bad = await gql(url, 'mutation { revokeDevice(publicKey: "12") { txId } }', {}, auth)
    expect(bad.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT')
  })
})
