import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectUnionMatchesSource } from '../../core/test/error-codes.js'
import { TLOG_ERROR_CODES, TlogError, parseVkey } from '../src/tlog/index.js'
import { ProfichainError, hasErrorCode } from '@profichain/core'

describe('tlog errors', () => {
  it('every code of TLOG_ERROR_CODES is used by the sources and every thrown code is listed', () => {
    expectUnionMatchesSource(join(import.meta.dirname, '../src/tlog'), TLOG_ERROR_CODES, ['TlogError'])
  })

  it('is a ProfichainError with a stable name and code', () => {
    let err: unknown
    try {
      parseVkey('nope')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ProfichainError)
    expect(err).toBeInstanceOf(TlogError)
    expect((err as TlogError).name).toBe('TlogError')
    expect(hasErrorCode(err, TLOG_ERROR_CODES)).toBe(true)
  })
})
