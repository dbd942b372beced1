import { readFile } from 'node:fs/promises'
import { fromHex, isHex, toHex } from '@profichain/core'
import { generateHpkeKeyPair, type HpkeKeyPair, hpkeKeyPairFromPrivateKey } from '@profichain/global'
import { ConfigError } from '../config.js'
import { writeAtomic } from './state.js'

/**
 * The node's X25519 key for the broker's HPKE envelope (DESIGN §11 "Broker"): `<dataDir>/hpke.key` holds
 * the 32-byte private key as 64 hex digits and a newline (mode 0600, as secret as node.key). Created on
 * first use (`init`, `partner add`, or the first start with partners); the public key is what partners
 * put in their config as `encryptionKey`.
 */
export async function loadOrCreateHpkeKey(path: string): Promise<HpkeKeyPair> {
  let text: string
  try {
    text = (await readFile(path, 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const kp = generateHpkeKeyPair()
    await writeAtomic(path, `${toHex(kp.privateKey)}\n`, 0o600)
    return kp
  }
  if (!isHex(text, 32)) throw new ConfigError(`${path} is not an HPKE key (64 hex digits): restore it from a backup, or delete it and give partners the new encryption key`)
  return hpkeKeyPairFromPrivateKey(fromHex(text))
}
