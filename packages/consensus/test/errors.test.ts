import { join } from 'node:path'
import { createTransaction, stripTx } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import { expectCode, expectUnionMatchesSource, thrown } from '../../core/test/error-codes.js'
import {
  checkTxOrigins,
  CONSENSUS_ERROR_CODES,
  createConsensus,
  createGenesis,
  genesisBlock,
  loadGenesis,
  parseGenesis,
} from '../src/index.js'
import { child, key, MemChain, T0 } from './helpers.js'

const CODES: readonly string[] = CONSENSUS_ERROR_CODES

describe('consensus errors', () => {
  it('genesis, origin and seal failures carry a code of CONSENSUS_ERROR_CODES and a stable class name', async () => {
    const validator = key(1)
    const genesis = createGenesis({ network: 'test', validators: [validator], blockTimeMs: 1000, timestamp: T0 })
    const g = genesisBlock(genesis).header
    const outsider = key(9)
    const tx = stripTx(createTransaction(outsider, { network: 'test', seq: 0, timestamp: T0, payload: new Uint8Array(1) }))
    const cases: Array<[name: string, fn: () => unknown, code: string]> = [
      ['GenesisError', () => parseGenesis({ network: 7 }), 'ERR_GENESIS'],
      ['GenesisError', () => loadGenesis(join(import.meta.dirname, 'no-such-genesis.json')), 'ERR_GENESIS'],
      ['ConsensusError', () => checkTxOrigins(genesis, [tx]), 'ERR_ORIGIN_NOT_MEMBER'],
      ['ConsensusError', () => createConsensus(genesis).seal(child(g, T0 + 1000), g, outsider, new MemChain(g)), 'ERR_NOT_VALIDATOR'],
    ]
    for (const [name, fn, code] of cases) {
      const err = await thrown(fn)
      expect(expectCode(err, CODES, name)).toBe(code)
    }
  })

  it('the code union and the sources agree', () => {
    expectUnionMatchesSource(join(import.meta.dirname, '../src'), CODES, ['ConsensusError', 'reject'], ['ERR_GENESIS'])
  })
})
