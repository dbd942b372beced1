import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectCode, expectUnionMatchesSource, thrown } from '../../core/test/error-codes.js'
import { createTxVerifier, PROCESSING_ERROR_CODES } from '../src/index.js'
import { PoolVerifier } from '../src/pool.js'

const CODES: readonly string[] = PROCESSING_ERROR_CODES

describe('processing errors', () => {
  it('pool failures carry a code of PROCESSING_ERROR_CODES and the class name ProcessingError', async () => {
    const inline = createTxVerifier({ threads: 0 })
    await inline.close()
    const pool = new PoolVerifier({ threads: 1, batchSize: 64, merkleChunk: 1024 })
    try {
      const crash = await thrown(() => pool.run({ op: 'crash' }))
      expect(expectCode(crash, CODES, 'ProcessingError')).toBe('ERR_POOL')
      expect(crash.meta).toEqual({ op: 'crash' })
    } finally {
      await pool.close()
    }
    for (const v of [inline, pool]) {
      const closed = await thrown(() => v.merkleRoot([]))
      expect(expectCode(closed, CODES, 'ProcessingError')).toBe('ERR_POOL_CLOSED')
    }
  })

  it('the code union and the sources agree', () => {
    expectUnionMatchesSource(join(import.meta.dirname, '../src'), CODES, ['ProcessingError'])
  })
})
