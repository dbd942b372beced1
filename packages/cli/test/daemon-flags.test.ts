import { describe, expect, it } from 'vitest'
import { daemonNodeFlags } from '../src/util.js'

describe('daemonNodeFlags', () => {
  it('gives the daemon a 64 MiB young-generation semi-space', () => {
    expect(daemonNodeFlags('')).toEqual(['--max-semi-space-size=64'])
    expect(daemonNodeFlags('--enable-source-maps')).toEqual(['--max-semi-space-size=64'])
  })

  it("leaves an operator's own semi-space size in NODE_OPTIONS alone", () => {
    expect(daemonNodeFlags('--max-semi-space-size=16')).toEqual([])
  })
})
