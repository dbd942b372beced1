import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { authority, createGenesis, genesisBlock, inTurnIndex } from '../src/index.js'
import { child, key, MemChain, T0 } from './helpers.js'

const KEYS = Array.from({ length: 12 }, (_, i) => key(i + 1))

describe('authority properties', () => {
  it('exactly one validator is in turn at every height', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 1_000_000 }), (n, height) => {
        const g = createGenesis({ network: 'p', validators: KEYS.slice(0, n), timestamp: T0 })
        const c = authority(g)
        const inTurn = KEYS.slice(0, n).filter((k) => c.isInTurn(height, k.publicKey))
        expect(inTurn).toHaveLength(1)
        expect(inTurn[0]).toBe(KEYS[inTurnIndex(height, n)])
      }),
    )
  })

  it('signer limit: producers in any window of ⌊n/2⌋+1 accepted blocks are distinct', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.nat({ max: 6 }), { minLength: 1, maxLength: 25 }),
        async (n, picks) => {
          const g = createGenesis({
            network: 'p',
            validators: KEYS.slice(0, n),
            timestamp: T0,
            blockTimeMs: 100,
            consensus: { type: 'authority', backoffMs: 50 },
          })
          const c = authority(g)
          let parent = genesisBlock(g).header
          const chain = new MemChain(parent)
          const producers: number[] = []
          for (const pick of picks) {
            const v = pick % n
            const ts = parent.timestamp + 150
            const delay = await c.producerDelay(parent, KEYS[v].publicKey, chain, ts)
            const sealed = await c.seal(child(parent, ts), parent, KEYS[v], chain).then(
              (b) => b,
              () => null,
            )
            // producerDelay and seal agree on who may produce.
            expect(sealed === null).toBe(delay === null)
            if (sealed === null) continue
            await c.validateHeader(sealed.header, parent, chain, ts)
            chain.add(sealed.header)
            parent = sealed.header
            producers.push(v)
          }
          const w = Math.floor(n / 2) + 1
          for (let i = 0; i + w <= producers.length; i++) {
            expect(new Set(producers.slice(i, i + w)).size).toBe(w)
          }
          // Some eligible validator always exists: the chain never stalls.
          const eligible = await Promise.all(
            KEYS.slice(0, n).map((k) => c.producerDelay(parent, k.publicKey, chain, parent.timestamp)),
          )
          expect(eligible.filter((d) => d !== null).length).toBe(
            n - Math.min(Math.floor(n / 2), producers.length),
          )
        },
      ),
      { numRuns: 60 },
    )
  })
})
