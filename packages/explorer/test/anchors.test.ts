import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { anchorCost, ethAnchorsIn } from '../src/app/anchors.js'

// The anchors view's pure parts; the view itself runs against a real devnet in test/anchor.test.ts.
const TX = `0x${'ab'.repeat(32)}`

describe('explorer anchors helpers', () => {
  it('finds the eth anchor of a Chainpoint receipt (nested eth_anchor_branch) and of a native receipt (ethAnchors)', () => {
    const chainpoint = {
      type: 'Chainpoint',
      branches: [{ label: 'profichain_branch', ops: [], branches: [{ label: 'eth_anchor_branch', ops: [{ l: 'x' }, { op: 'sha-256' }, { anchors: [{ type: 'eth', anchor_id: 'ab'.repeat(32) }] }] }] }],
    }
    expect(ethAnchorsIn(chainpoint)).toEqual([TX])
    expect(ethAnchorsIn({ type: 'ProfichainReceipt', ethAnchors: [{ chainId: 1, txHash: TX.toUpperCase().replace('0X', '0x') }] })).toEqual([TX])
    // A receipt without a public anchor, and one with only a node anchor (cal), name none.
    expect(ethAnchorsIn({ type: 'Chainpoint', branches: [{ label: 'profichain_branch', ops: [{ anchors: [{ type: 'cal', anchor_id: '1' }] }] }] })).toEqual([])
    expect(ethAnchorsIn({ type: 'ProfichainReceipt' })).toEqual([])
  })

  it('never throws on odd receipts (random JSON)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const r = ethAnchorsIn(v)
        expect(Array.isArray(r)).toBe(true)
        expect(ethAnchorsIn({ branches: [v, { label: 'eth_anchor_branch', ops: v }], ethAnchors: [v] })).toEqual(expect.any(Array))
      }),
    )
  })

  it('shows the cost in wei and ETH, exactly (BigInt)', () => {
    expect(anchorCost('21000', '1000000000')).toBe('21000000000000 wei (0.000021 ETH)')
    expect(anchorCost('1000000', '2000000000000')).toBe('2000000000000000000 wei (2 ETH)')
    expect(anchorCost('x', '1')).toBe('unknown')
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.bigInt({ min: 0n, max: 10n ** 15n }), (g, p) => {
        const m = /^(\d+) wei \((\d+)(?:\.(\d+))? ETH\)$/.exec(anchorCost(String(g), String(p)))
        expect(m).not.toBeNull()
        const [, wei, whole, frac = ''] = m as RegExpExecArray
        expect(BigInt(wei)).toBe(g * p)
        expect(BigInt(whole) * 10n ** 18n + BigInt(frac.padEnd(18, '0'))).toBe(g * p)
      }),
    )
  })
})
