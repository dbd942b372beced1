import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectCode, expectUnionMatchesSource, thrown } from '../../core/test/error-codes.js'
import { API_ERROR_CODES, API_RESPONSE_CODES, createApiServer } from '../src/index.js'
import { TestChain } from './chain.js'

const CODES: readonly string[] = API_ERROR_CODES
let chain: TestChain

beforeAll(async () => {
  chain = await TestChain.open()
})
afterAll(async () => {
  await chain.close()
})

describe('api errors', () => {
  it('server failures carry a code of API_ERROR_CODES, typed meta and the class name ApiError', async () => {
    const c = chain.components()
    const config: Array<[fn: () => unknown, code: string, meta: object]> = [
      [() => createApiServer({ port: 70_000 }, c), 'ERR_API_CONFIG', { option: 'port' }],
      [() => createApiServer({ port: 0, token: 'short' }, c), 'ERR_API_CONFIG', { option: 'token' }],
      [() => createApiServer({ port: 0, maxDepth: -1 }, c), 'ERR_API_CONFIG', { option: 'maxDepth' }],
      [() => createApiServer({ host: '0.0.0.0', port: 0 }, c), 'ERR_API_NO_TOKEN', { host: '0.0.0.0' }],
    ]
    for (const [fn, code, meta] of config) {
      const err = await thrown(fn)
      expect(expectCode(err, CODES, 'ApiError')).toBe(code)
      expect(err.meta).toEqual(meta)
    }

    const first = createApiServer({ port: 0 }, c)
    const { port } = await first.start()
    try {
      const busy = createApiServer({ port }, c)
      const err = await thrown(() => busy.start())
      expect(expectCode(err, CODES, 'ApiError')).toBe('ERR_API_ADDR_IN_USE')
      expect(err.meta).toEqual({ host: '127.0.0.1', port })
    } finally {
      await first.stop()
    }
    const stopped = await thrown(() => first.start())
    expect(expectCode(stopped, CODES, 'ApiError')).toBe('ERR_API_STOPPED')
  })

  it('the code unions and the sources agree', () => {
    const src = join(import.meta.dirname, '../src')
    expectUnionMatchesSource(src, CODES, ['ApiError', 'codedError\\(.*?\\),'])
    expectUnionMatchesSource(src, API_RESPONSE_CODES, ['gqlError', 'sendError\\(\\w+, \\d+,'])
  })
})
