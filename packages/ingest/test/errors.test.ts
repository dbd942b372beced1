import { join } from 'node:path'
import { utf8 } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import { expectCode, expectUnionMatchesSource, thrown } from '../../core/test/error-codes.js'
import { INGEST_ERROR_CODES, splitLines } from '../src/index.js'

const CODES: readonly string[] = INGEST_ERROR_CODES

describe('ingest errors', () => {
  it('a malformed line-mode file throws an IngestError with a code of INGEST_ERROR_CODES and the line', async () => {
    const cases: Array<[fn: () => unknown, code: string, line: number]> = [
      [() => splitLines(utf8('{"a":1}\n{oops\n'), 'jsonl'), 'ERR_INGEST_BAD_JSONL', 2],
      [() => splitLines(utf8('h1,h2\n"open,1\n'), 'csv'), 'ERR_INGEST_BAD_CSV', 2],
      [() => splitLines(Uint8Array.of(0x31, 0x0a, 0x22, 0xff, 0x22, 0x0a), 'jsonl'), 'ERR_INGEST_BAD_TEXT', 2],
    ]
    for (const [fn, code, line] of cases) {
      const err = await thrown(fn)
      expect(expectCode(err, CODES, 'IngestError')).toBe(code)
      expect(err.meta).toEqual({ line })
    }
  })

  it('the code union and the sources agree', () => {
    expectUnionMatchesSource(join(import.meta.dirname, '../src'), CODES, ['IngestError'])
  })
})
