import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ed25519 } from '@noble/curves/ed25519.js'
import { describe, expect, it } from 'vitest'
import * as core from '../src/index.js'
import { computeProtocolVectors } from './protocol-vectors.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const fixture = JSON.parse(readFileSync(join(here, 'fixtures/protocol-vectors.json'), 'utf8')) as {
  vectors: Record<string, string>
  chainpoint: unknown
  native: unknown
}
const doc = readFileSync(join(here, '../../../docs/protocol.md'), 'utf8')
const v = fixture.vectors
const sha = (hex: string) => createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex')

describe('protocol test vectors (packages/core/test/fixtures/protocol-vectors.json)', () => {
  it('recomputing them with the current code gives the fixture, under both crypto backends', () => {
    for (const backend of [core.createNodeBackend(), core.createNobleBackend()]) {
      core.setCrypto(backend)
      try {
        const now = computeProtocolVectors(core)
        expect(now.vectors, backend.name).toEqual(v)
        expect(JSON.parse(JSON.stringify(now.chainpoint))).toEqual(fixture.chainpoint)
        expect(JSON.parse(JSON.stringify(now.native))).toEqual(fixture.native)
      } finally {
        core.setCrypto(core.createNodeBackend())
      }
    }
  })

  it('they follow the documented definitions, checked with independent primitives', () => {
    // Stripped tx = 0x82 ‖ body ‖ 0x58 0x40 ‖ signature; transaction = 0x82 ‖ stripped ‖ bstr(payload).
    expect(v['tx0.stripped']).toBe(`82${v['tx0.body']}5840${v['tx0.signature']}`)
    expect(v['tx0.transaction']).toBe(
      `82${v['tx0.stripped']}50${Buffer.from('hello profichain').toString('hex')}`,
    )
    expect(v['tx0.payloadHash']).toBe(createHash('sha256').update('hello profichain').digest('hex'))
    expect(v['tx0.txId']).toBe(sha(v['tx0.stripped']))
    expect(v['tx1.txId']).toBe(sha(v['tx1.stripped']))
    // Signatures: Ed25519 over the encoded body (txs) and over the 32-byte block hash (headers).
    const pub = Buffer.from(v['key.publicKey'], 'hex')
    expect(
      ed25519.verify(Buffer.from(v['tx0.signature'], 'hex'), Buffer.from(v['tx0.body'], 'hex'), pub),
    ).toBe(true)
    expect(
      ed25519.verify(
        Buffer.from(v['block.headerSignature'], 'hex'),
        Buffer.from(v['block.hash'], 'hex'),
        pub,
      ),
    ).toBe(true)
    // Merkle: leaf = H(00 ‖ txId), node = H(01 ‖ l ‖ r).
    expect(v['block.leaf0']).toBe(sha(`00${v['tx0.txId']}`))
    expect(v['block.leaf1']).toBe(sha(`00${v['tx1.txId']}`))
    expect(v['block.merkleRoot']).toBe(sha(`01${v['block.leaf0']}${v['block.leaf1']}`))
    // Block hash = H(header body); header = [body, [[signer, sig]]]; block = [header, [stripped...]].
    expect(v['block.hash']).toBe(sha(v['block.headerBody']))
    expect(v['block.header']).toBe(
      `82${v['block.headerBody']}81825820${v['key.publicKey']}5840${v['block.headerSignature']}`,
    )
    expect(v['block.encoded']).toBe(`82${v['block.header']}82${v['tx0.stripped']}${v['tx1.stripped']}`)
    expect(v['block.headerBody']).toContain(`5820${v['block.merkleRoot']}`)
    // RFC 6962 tree of 5 leaves ("", a, b, c, d): root = H(01 ‖ H(01 ‖ H(01‖l0‖l1) ‖ H(01‖l2‖l3)) ‖ l4).
    const n = (a: string, b: string) => sha(`01${a}${b}`)
    expect(v['merkle.leaf0']).toBe(sha('00'))
    expect(v['merkle.root']).toBe(
      n(
        n(n(v['merkle.leaf0'], v['merkle.leaf1']), n(v['merkle.leaf2'], v['merkle.leaf3'])),
        v['merkle.leaf4'],
      ),
    )
    expect(v['merkle.path3']).toBe(
      [v['merkle.leaf2'], n(v['merkle.leaf0'], v['merkle.leaf1']), v['merkle.leaf4']].join(','),
    )
    expect(v['merkle.emptyRoot']).toBe(sha(''))
    // The vectors decode with the strict decoders.
    expect(core.decodeBlock(core.fromHex(v['block.encoded'])).txs).toHaveLength(2)
  })

  it('docs/protocol.md lists exactly these values (the doc cannot drift)', () => {
    const inDoc: Record<string, string> = {}
    for (const m of doc.matchAll(/^([a-z][A-Za-z0-9]*\.[A-Za-z0-9]+) = (\S+)$/gm)) {
      expect(inDoc[m[1]], `duplicate ${m[1]} in docs/protocol.md`).toBeUndefined()
      inDoc[m[1]] = m[2]
    }
    expect(inDoc).toEqual(v)
    // The example receipts in the doc are the fixture's.
    const blocks = [...doc.matchAll(/```json\n([\s\S]*?)\n```/g)].map(
      (m) => JSON.parse(m[1]) as { type?: string },
    )
    expect(blocks.find((b) => b.type === 'Chainpoint')).toEqual(fixture.chainpoint)
    expect(blocks.find((b) => b.type === 'ProfichainReceipt')).toEqual(fixture.native)
  })
})
