import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadBridgeConfig, parseBridgeConfig } from '../src/index.js'

const EXAMPLE = join(fileURLToPath(import.meta.url), '../../../../configs/opcua.toml')

const minimal = {
  publisher_id: 'mill-1',
  output: { kind: 'files', inbox: 'inbox' },
  servers: [{ endpoint_url: 'opc.tcp://127.0.0.1:4840', items: [{ node_id: 'ns=1;s=x' }] }],
}

describe('opcua.toml', () => {
  it('loads the example config', async () => {
    const c = await loadBridgeConfig(EXAMPLE)
    expect(c.servers.length).toBeGreaterThan(0)
    expect(c.output.kind).toBe('files')
    expect(c.samplesPerRecord).toBe(10)
  })

  it('resolves paths against the config folder and fills defaults', () => {
    const c = parseBridgeConfig(minimal, '/etc/pc')
    expect(c.output).toEqual({ kind: 'files', inbox: '/etc/pc/inbox', rotate: { maxBytes: 4 * 1024 * 1024, maxMs: 1000, maxLines: 10_000 } })
    expect(c.stateDir).toBe('/etc/pc/opcua-state')
    expect(c.servers[0]).toMatchObject({ securityMode: 'None', securityPolicy: 'None', items: [{ nodeId: 'ns=1;s=x' }] })
  })

  it('refuses bad configs with the field named', () => {
    expect(() => parseBridgeConfig({ ...minimal, samples_per_record: 0 }, '/')).toThrow(/samples_per_record/)
    expect(() => parseBridgeConfig({ ...minimal, servers: [{ endpoint_url: 'http://x', items: [{ node_id: 'a' }] }] }, '/')).toThrow(/endpoint_url/)
    expect(() => parseBridgeConfig({ ...minimal, servers: [{ ...minimal.servers[0], security_mode: 'Sign' }] }, '/')).toThrow(/security_policy/)
    expect(() => parseBridgeConfig({ ...minimal, servers: [{ ...minimal.servers[0], user_certificate_file: 'c.pem' }] }, '/')).toThrow(/user_private_key_file/)
    expect(() => parseBridgeConfig({ ...minimal, surprise: 1 }, '/')).toThrow(/ERR|surprise|Unrecognized/i)
  })
})
