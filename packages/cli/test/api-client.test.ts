import { afterEach, describe, expect, it } from 'vitest'
import { apiBase, apiToken } from '../src/api-client.js'
import { CliError } from '../src/util.js'

describe('API base URL and token (issue 10 items 13, 17)', () => {
  const saved = process.env.PROFICHAIN_API_TOKEN
  afterEach(() => {
    if (saved === undefined) delete process.env.PROFICHAIN_API_TOKEN
    else process.env.PROFICHAIN_API_TOKEN = saved
  })

  it('assumes http:// when the scheme is missing and keeps a given one', () => {
    expect(apiBase('127.0.0.1:8600')).toBe('http://127.0.0.1:8600')
    expect(apiBase('localhost:8545/')).toBe('http://localhost:8545')
    expect(apiBase('https://node.example.com/base/')).toBe('https://node.example.com/base')
    expect(apiBase(' http://[::1]:8545 ')).toBe('http://[::1]:8545')
  })

  it('refuses what is not an http(s) URL as a usage error', () => {
    for (const bad of ['ftp://x:1', 'http://[::1', '']) {
      let err: unknown
      try {
        apiBase(bad)
      } catch (e) {
        err = e
      }
      expect(err, bad).toBeInstanceOf(CliError)
      expect((err as CliError).exitCode, bad).toBe(2)
      expect((err as Error).message).not.toMatch(/^Invalid URL$/)
    }
  })

  it('takes the token from the flag first, then PROFICHAIN_API_TOKEN', () => {
    process.env.PROFICHAIN_API_TOKEN = 'from-env'
    expect(apiToken('from-flag')).toBe('from-flag')
    expect(apiToken(undefined)).toBe('from-env')
    process.env.PROFICHAIN_API_TOKEN = ''
    expect(apiToken(undefined)).toBeUndefined()
  })
})
