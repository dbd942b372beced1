import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  CORE_ERROR_CODES,
  createBlock,
  decodeBlock,
  decodeSyncRequest,
  decodeTransaction,
  evaluateChainpoint,
  fromHex,
  hasErrorCode,
  inclusionProof,
  keyPairFromSeed,
  leafHash,
  nodePublicKey,
  readKeyFile,
  rootFromInclusionProof,
  utf8,
  validateBlock,
  validateTx,
  verifyNativeReceipt,
  writeKeyFile,
  ZERO_HASH,
} from '../src/index.js'
import { expectCode, expectUnionMatchesSource, thrown } from './error-codes.js'
import { makeBlock, makeTx, NETWORK, testKey } from './helpers.js'

const rules = { network: NETWORK, maxTxBytes: 1024, maxBlockBytes: 64 * 1024 }
const CODES: readonly string[] = CORE_ERROR_CODES

describe('core errors', () => {
  it('every error core throws carries a code of CORE_ERROR_CODES and a stable class name', async () => {
    const key = testKey(1)
    const dir = await mkdtemp(join(tmpdir(), 'pc-core-errors-'))
    try {
      const cases: Array<[name: string, fn: () => unknown, code: string]> = [
        ['CodecError', () => decodeTransaction(Uint8Array.of(0xff)), 'ERR_CODEC'],
        ['CodecError', () => decodeBlock(Uint8Array.of(0x80)), 'ERR_CODEC'],
        ['CodecError', () => decodeSyncRequest(utf8('not cbor')), 'ERR_CODEC'],
        ['TypeError', () => fromHex('zz'), 'ERR_INVALID_ARGUMENT'],
        ['TypeError', () => nodePublicKey(new Uint8Array(3)), 'ERR_INVALID_ARGUMENT'],
        ['KeyError', () => keyPairFromSeed(new Uint8Array(3)), 'ERR_KEY_INVALID'],
        ['KeyError', () => readKeyFile(join(dir, 'missing.key')), 'ERR_KEY_UNREADABLE'],
        ['ValidationError', () => validateTx(makeTx(key, 0), { ...rules, network: 'other' }), 'ERR_TX_NETWORK'],
        ['ValidationError', () => validateTx({ ...makeTx(key, 0, utf8('abc')), payload: utf8('abd') }, rules), 'ERR_TX_PAYLOAD_HASH'],
        ['ValidationError', () => validateBlock(makeBlock(key, [makeTx(key, 0)]), { ...rules, network: 'other' }), 'ERR_BLOCK_NETWORK'],
        [
          'ValidationError',
          () =>
            validateBlock(
              createBlock({ network: NETWORK, height: 1, timestamp: 1, prevHash: ZERO_HASH, producer: key.publicKey, txs: [] }),
              { ...rules, maxBlockBytes: 10 },
            ),
          'ERR_BLOCK_TOO_LARGE',
        ],
        ['ProofError', () => inclusionProof([leafHash(utf8('a'))], 5), 'ERR_PROOF_INDEX'],
        ['ProofError', () => rootFromInclusionProof(new Uint8Array(3), 0, 1, []), 'ERR_PROOF_MALFORMED'],
        ['ProofError', () => evaluateChainpoint({} as never), 'ERR_RECEIPT_FORMAT'],
        ['ProofError', () => verifyNativeReceipt({} as never, {} as never), 'ERR_RECEIPT_FORMAT'],
      ]
      await writeKeyFile(join(dir, 'a.key'), key)
      cases.push(['KeyError', () => writeKeyFile(join(dir, 'a.key'), key), 'ERR_KEY_EXISTS'])
      await writeFile(join(dir, 'open.key'), 'x', { mode: 0o644 })
      cases.push(['KeyError', () => readKeyFile(join(dir, 'open.key')), 'ERR_KEY_PERMISSIONS'])
      await writeFile(join(dir, 'bad.key'), 'not a pem', { mode: 0o600 })
      cases.push(['KeyError', () => readKeyFile(join(dir, 'bad.key')), 'ERR_KEY_INVALID'])

      for (const [name, fn, code] of cases) {
        const err = await thrown(fn)
        expect(expectCode(err, CODES, name), `${name}: ${err.message}`).toBe(code)
        if (name !== 'TypeError') expect(hasErrorCode(err, CORE_ERROR_CODES)).toBe(true)
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('the code union and the sources agree', () => {
    expectUnionMatchesSource(join(import.meta.dirname, '../src'), CODES, [
      'ValidationError',
      'ProofError',
      'KeyError',
      'codedError\\(.*?\\),',
    ], ['ERR_CODEC', 'ERR_BLOCK_HEIGHT', 'ERR_BLOCK_TX_REPLAY'])
  })
})
