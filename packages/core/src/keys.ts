import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { toBase32, toHex } from './bytes.js'
import { getCrypto, nodePrivateKey } from './crypto.js'
import { KeyError } from './errors.js'

/** An Ed25519 identity: the 32-byte RFC 8032 seed and its public key. */
export interface KeyPair {
  readonly seed: Uint8Array
  readonly publicKey: Uint8Array
}

export function generateKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync('ed25519')
  const jwk = privateKey.export({ format: 'jwk' })
  const seed = new Uint8Array(Buffer.from(jwk.d as string, 'base64url'))
  return { seed, publicKey: new Uint8Array(Buffer.from(jwk.x as string, 'base64url')) }
}

export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.byteLength !== 32) throw new KeyError('ERR_KEY_INVALID', 'an Ed25519 seed must be 32 bytes')
  return { seed, publicKey: getCrypto().publicKey(seed) }
}

/** Short printable id of a public key: "pc" + base32 of the first 10 bytes of SHA-256(pub). */
export function nodeIdOf(publicKey: Uint8Array): string {
  return `pc${toBase32(getCrypto().sha256(publicKey).subarray(0, 10))}`
}

/** Key files are PKCS#8 PEM (readable by openssl), written with mode 0600. */
export async function writeKeyFile(path: string, kp: KeyPair): Promise<void> {
  const pem = nodePrivateKey(kp.seed).export({ format: 'pem', type: 'pkcs8' }) as string
  await writeFile(path, pem, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') throw new KeyError('ERR_KEY_EXISTS', `key file ${path} already exists; refusing to overwrite it`, { path })
    throw err
  })
  await chmod(path, 0o600)
}

export async function readKeyFile(path: string): Promise<KeyPair> {
  let pem: string
  try {
    pem = await readFile(path, 'utf8')
  } catch (err) {
    throw new KeyError('ERR_KEY_UNREADABLE', `cannot read key file ${path}: ${(err as Error).message}`, { path }, { cause: err })
  }
  const st = await stat(path)
  if ((st.mode & 0o077) !== 0) {
    throw new KeyError('ERR_KEY_PERMISSIONS', `key file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`, { path })
  }
  try {
    const key = createPrivateKey(pem)
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an ed25519 key, found ${key.asymmetricKeyType}`)
    const jwk = key.export({ format: 'jwk' })
    const pub = createPublicKey(key).export({ format: 'jwk' })
    return {
      seed: new Uint8Array(Buffer.from(jwk.d as string, 'base64url')),
      publicKey: new Uint8Array(Buffer.from(pub.x as string, 'base64url')),
    }
  } catch (err) {
    throw new KeyError('ERR_KEY_INVALID', `key file ${path} is not an Ed25519 PKCS#8 PEM key: ${(err as Error).message}`, { path }, { cause: err })
  }
}

export function publicKeyHex(kp: KeyPair): string {
  return toHex(kp.publicKey)
}
