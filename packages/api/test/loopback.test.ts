import { describe, expect, it } from 'vitest'
import { isLoopbackHost } from '../src/index.js'

describe('isLoopbackHost (the one meaning of "loopback": API bind check and config validation)', () => {
  it('accepts localhost, 127.0.0.0/8, IPv4-mapped 127/8 and ::1', () => {
    for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '127.255.255.255', '::1', '[::1]', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(h), h).toBe(true)
    }
  })

  it('refuses every other address', () => {
    for (const h of ['0.0.0.0', '::', '', '10.0.0.1', '128.0.0.1', '127.0.0.256', '127.0.0', '127.0.0.1.nip.io', 'localhost.example', '::2', '::ffff:10.0.0.1']) {
      expect(isLoopbackHost(h), h).toBe(false)
    }
  })
})
