import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { type CryptoBackend, createNobleBackend, createNodeBackend, fromHex, toHex } from '../src/index.js'

const here = dirname(fileURLToPath(import.meta.url))

interface WycheproofFile {
  numberOfTests: number
  testGroups: Array<{
    publicKey: { pk: string }
    tests: Array<{ tcId: number; comment: string; msg: string; sig: string; result: string }>
  }>
}
const wycheproof = JSON.parse(
  readFileSync(join(here, 'fixtures/wycheproof/ed25519_test.json'), 'utf8'),
) as WycheproofFile

// RFC 8032 §7.1, TEST 1..3: secret key (seed), public key, message, signature.
const RFC8032 = [
  {
    name: 'TEST 1',
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pub: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2',
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    msg: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3',
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pub: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    msg: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
]

const backends: CryptoBackend[] = [createNodeBackend(), createNobleBackend()]

for (const be of backends) {
  describe(`Ed25519 backend "${be.name}"`, () => {
    it(`passes all ${wycheproof.numberOfTests} Wycheproof ed25519 cases (valid verify, invalid rejected)`, () => {
      const disagreements: string[] = []
      let count = 0
      for (const g of wycheproof.testGroups) {
        const pk = fromHex(g.publicKey.pk)
        for (const t of g.tests) {
          count++
          expect(['valid', 'invalid']).toContain(t.result)
          const ok = be.verify(pk, fromHex(t.msg), fromHex(t.sig))
          if (ok !== (t.result === 'valid'))
            disagreements.push(`tcId ${t.tcId} (${t.comment}): expected ${t.result}, got ${ok}`)
        }
      }
      expect(count).toBe(wycheproof.numberOfTests)
      expect(disagreements).toEqual([])
    })

    for (const v of RFC8032) {
      it(`RFC 8032 §7.1 ${v.name}: public key, exact signature, verify`, () => {
        const seed = fromHex(v.seed)
        const msg = fromHex(v.msg)
        expect(toHex(be.publicKey(seed))).toBe(v.pub)
        expect(toHex(be.sign(seed, msg))).toBe(v.sig)
        expect(be.verify(fromHex(v.pub), msg, fromHex(v.sig))).toBe(true)
        const bad = fromHex(v.sig)
        bad[0] ^= 1
        expect(be.verify(fromHex(v.pub), msg, bad)).toBe(false)
      })
    }

    it('rejects wrong lengths and non-canonical S without throwing', () => {
      const v = RFC8032[0]
      const pub = fromHex(v.pub)
      const sig = fromHex(v.sig)
      expect(be.verify(pub.subarray(0, 31), new Uint8Array(0), sig)).toBe(false)
      expect(be.verify(pub, new Uint8Array(0), sig.subarray(0, 63))).toBe(false)
      // S + L (group order) is the classic malleated signature: strict RFC 8032 rejects it.
      const L = 2n ** 252n + 27742317777372353535851937790883648493n
      let s = 0n
      for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i])
      s += L
      const mall = sig.slice()
      for (let i = 0; i < 32; i++) {
        mall[32 + i] = Number(s & 0xffn)
        s >>= 8n
      }
      expect(be.verify(pub, new Uint8Array(0), mall)).toBe(false)
    })

    it('sha256 matches FIPS 180-2 "abc"', () => {
      expect(toHex(be.sha256(new TextEncoder().encode('abc')))).toBe(
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      )
    })
  })
}
