import { readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseToml } from 'smol-toml'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, parseConfig, TYPE_PRESETS } from '../src/config.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..')

describe('node config', () => {
  it('accepts every example in configs/ and resolves the module switches of its type', async () => {
    // configs/opcua.toml configures the OPC UA bridge (`profichain opcua`, docs/opcua.md), not a node.
    const files = (await readdir(join(ROOT, 'configs'))).filter((f) => f.endsWith('.toml') && f !== 'opcua.toml')
    expect(files.sort()).toEqual(['archive.toml', 'full.toml', 'producer.toml', 'thin.toml'])
    for (const f of files) {
      const c = parseConfig(parseToml(await readFile(join(ROOT, 'configs', f), 'utf8')), '/data', f)
      expect(`${c.type}.toml`).toBe(f)
      expect(c.enabled.producer).toBe(TYPE_PRESETS[c.type].producer)
      expect(c.enabled.archive).toBe(TYPE_PRESETS[c.type].archive)
      expect(c.paths.db).toBe('/data/db')
      expect(c.paths.inbox).toBe('/data/inbox')
    }
  })

  it('lets [modules] override the preset', () => {
    const c = parseConfig({ type: 'thin', modules: { producer: true, ingest: false } }, '/d')
    expect(c.enabled).toMatchObject({ producer: true, archive: false, ingest: false, api: true, network: true })
  })

  it('names every bad key with its path', () => {
    const bad = { type: 'huge', p2p: { port: 70000 }, api: { cors: 'x' }, bogus: 1 }
    let err: unknown
    try {
      parseConfig(bad, '/d', 'config.toml')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    const msg = (err as Error).message
    expect(msg).toMatch(/config\.toml is invalid/)
    expect(msg).toMatch(/type:/)
    expect(msg).toMatch(/p2p\.port:/)
    expect(msg).toMatch(/api\.cors:/)
    expect(msg).toMatch(/bogus/)
  })

  it('refuses a non-loopback API without a token', () => {
    expect(() => parseConfig({ type: 'full', api: { host: '0.0.0.0' } }, '/d')).toThrow(/set api\.token/)
    expect(parseConfig({ type: 'full', api: { host: '0.0.0.0', token: 'a-long-enough-token!' } }, '/d').api.host).toBe('0.0.0.0')
  })

  it('explains a missing config and invalid TOML', async () => {
    await expect(loadConfig(join(tmpdir(), 'no-such-dir-xyz', 'config.toml'))).rejects.toThrow(/run "profichain init/)
    const f = join(tmpdir(), `bad-${process.pid}.toml`)
    await writeFile(f, 'type = "full"\n[api\nport = 1')
    await expect(loadConfig(f)).rejects.toThrow(/not valid TOML/)
  })

  it('gives the line and column of a TOML syntax error', async () => {
    const f = join(tmpdir(), `bad-pos-${process.pid}.toml`)
    await writeFile(f, 'type = "full"\n\n[api]\nport = 85 45\n')
    const err = (await loadConfig(f).catch((e: unknown) => e)) as ConfigError
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.meta).toMatchObject({ line: 4, column: expect.any(Number) })
    expect(err.message).toContain(`${f}:4:`)
    expect(err.message).toMatch(/line 4, column \d+/)
    expect(err.message).toContain('port = 85 45') // the offending line is quoted
  })
})
