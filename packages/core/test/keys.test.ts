import { generateKeyPairSync } from 'node:crypto'
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  generateKeyPair,
  KeyError,
  keyPairFromSeed,
  nodeIdOf,
  type ProfichainError,
  readKeyFile,
  toHex,
  writeKeyFile,
} from '../src/index.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'profichain-keys-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function keyErrorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(KeyError)
    return (err as ProfichainError).code
  }
  return 'no error'
}

const SEED = Uint8Array.from({ length: 32 }, (_, i) => i + 1)

describe('key files', () => {
  it('writes PKCS#8 PEM with mode 0600 and reads it back', async () => {
    const kp = generateKeyPair()
    const p = join(dir, 'a.pem')
    await writeKeyFile(p, kp)
    expect((await stat(p)).mode & 0o777).toBe(0o600)
    const back = await readKeyFile(p)
    expect(toHex(back.seed)).toBe(toHex(kp.seed))
    expect(toHex(back.publicKey)).toBe(toHex(kp.publicKey))
  })
  it('refuses to overwrite', async () => {
    const p = join(dir, 'b.pem')
    await writeKeyFile(p, generateKeyPair())
    expect(await keyErrorCode(writeKeyFile(p, generateKeyPair()))).toBe('ERR_KEY_EXISTS')
  })
  it('refuses a group/world-readable key file', async () => {
    const p = join(dir, 'c.pem')
    await writeKeyFile(p, generateKeyPair())
    await chmod(p, 0o644)
    expect(await keyErrorCode(readKeyFile(p))).toBe('ERR_KEY_PERMISSIONS')
  })
  it('refuses non-Ed25519 and garbage PEM', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      format: 'pem',
      type: 'pkcs8',
    }) as string
    const p = join(dir, 'ec.pem')
    await writeFile(p, ec, { mode: 0o600 })
    expect(await keyErrorCode(readKeyFile(p))).toBe('ERR_KEY_INVALID')
    const g = join(dir, 'garbage.pem')
    await writeFile(g, 'not a key', { mode: 0o600 })
    expect(await keyErrorCode(readKeyFile(g))).toBe('ERR_KEY_INVALID')
    expect(await keyErrorCode(readKeyFile(join(dir, 'missing.pem')))).toBe('ERR_KEY_UNREADABLE')
  })
  it('keyPairFromSeed rejects a wrong-length seed', () => {
    expect(() => keyPairFromSeed(new Uint8Array(31))).toThrow(KeyError)
  })
  it('nodeIdOf is stable (pinned)', () => {
    const kp = keyPairFromSeed(SEED)
    expect(toHex(kp.publicKey)).toBe('79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664')
    expect(nodeIdOf(kp.publicKey)).toBe('pcmw3am46w5weex4a4')
  })
})
