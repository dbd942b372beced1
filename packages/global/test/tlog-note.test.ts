// c2sp.org/signed-note, tlog-checkpoint and tlog-cosignature: the Go sumdb/note known-answer vectors
// (fixtures/c2sp-signed-note, and the cases of golang.org/x/mod/sumdb/note note_test.go), the C2SP examples,
// round-trip properties and parser fuzzing (every failure is a TlogError, never anything else).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { getCrypto, keyPairFromSeed, sha256, type KeyPair } from '@profichain/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CHECKPOINT_MAX_BYTES,
  NOTE_ALG_COSIGNATURE_V1,
  NOTE_MAX_SIGNATURES,
  TlogError,
  appendSignatures,
  cosign,
  cosignerVerifier,
  formatCheckpoint,
  formatCosignerVkey,
  formatSkey,
  formatVkey,
  noteKeyId,
  noteVerifier,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseNote,
  parseSkey,
  parseVkey,
  signNote,
  verifyCosignature,
  type Checkpoint,
} from '../src/tlog/index.js'

interface Vector { name: string; skey: string; vkey: string; text: string; message: string }
const { vectors } = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/c2sp-signed-note/vectors.json'), 'utf8')) as { vectors: Vector[] }
const PETER = vectors[0]
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop'
const PETER_SIG = PETER.message.slice(PETER.text.length + 1)
const ENOCH_SIG = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n'

const kp = (n: number): KeyPair => keyPairFromSeed(sha256(new Uint8Array([n])))

/** Runs fn; returns the TlogError code it threw, or undefined. Anything else thrown fails the test. */
function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    expect(err, String(err)).toBeInstanceOf(TlogError)
    return (err as TlogError).code
  }
}

describe('Go sumdb/note known-answer vector', () => {
  it('derives the vkey from the skey, signs byte-identically (deterministic Ed25519) and opens the message', () => {
    expect(PETER.name).toBe('PeterNeumann')
    const { name, keyId, keyPair } = parseSkey(PETER.skey)
    expect(name).toBe('PeterNeumann')
    expect(keyId).toBe(0xc74f20a3)
    expect(formatSkey(name, keyPair)).toBe(PETER.skey)
    expect(formatVkey(name, keyPair.publicKey)).toBe(PETER.vkey)
    const v = parseVkey(PETER.vkey)
    expect(v).toMatchObject({ name: 'PeterNeumann', keyId: 0xc74f20a3, alg: 1 })
    expect(noteKeyId(name, 1, v.publicKey)).toBe(0xc74f20a3)
    expect(signNote(PETER.text, [{ name, keyPair }])).toBe(PETER.message)
    const opened = openNote(PETER.message, [v])
    expect(opened.text).toBe(PETER.text)
    expect(opened.verified.map((s) => [s.name, s.keyId])).toEqual([['PeterNeumann', 0xc74f20a3]])
    expect(opened.signatures[0].line).toBe(PETER_SIG)
    // bytes work too (strict UTF-8)
    expect(openNote(new TextEncoder().encode(PETER.message), [v]).text).toBe(PETER.text)
  })

  it('refuses every substring and every one-byte change of the vkey and skey (as Go’s TestNewVerifier)', () => {
    for (const [key, parse] of [[PETER.vkey, parseVkey], [PETER.skey, parseSkey]] as const) {
      for (let i = 0; i <= key.length; i++) {
        for (let j = i + 1; j <= key.length; j++) {
          if (i === 0 && j === key.length) continue
          expect(codeOf(() => parse(key.slice(i, j))), key.slice(i, j)).toBe('ERR_VKEY_MALFORMED')
        }
      }
      for (let i = 0; i < key.length; i++) {
        const mangled = key.slice(0, i) + String.fromCharCode(key.charCodeAt(i) + 1) + key.slice(i + 1)
        expect(codeOf(() => parse(mangled)), mangled).toBe('ERR_VKEY_MALFORMED')
      }
    }
    expect(codeOf(() => parseVkey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='))).toBe('ERR_VKEY_MALFORMED')
    expect(codeOf(() => parseVkey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'))).toBe('ERR_VKEY_MALFORMED')
  })

  it('opens as Go’s TestOpen: unknown keys kept unverified, duplicates counted once, bad known signature refused', () => {
    const peter = parseVkey(PETER.vkey)
    const enoch = parseVkey(ENOCH_VKEY)
    const both = `${PETER.text}\n${PETER_SIG}${ENOCH_SIG}`
    const one = openNote(both, [peter])
    expect(one.signatures.map((s) => s.name)).toEqual(['PeterNeumann', 'EnochRoot'])
    expect(one.verified.map((s) => s.name)).toEqual(['PeterNeumann'])
    expect(openNote(both, [peter, enoch]).verified.map((s) => s.name)).toEqual(['PeterNeumann', 'EnochRoot'])
    expect(codeOf(() => openNote(both, []))).toBe('ERR_NOTE_UNVERIFIED')
    expect(codeOf(() => openNote(`${PETER.text}\n${PETER_SIG.repeat(NOTE_MAX_SIGNATURES + 1)}`, [peter]))).toBe('ERR_NOTE_TOO_MANY_SIGNATURES')
    expect(openNote(`${PETER.text}\n${PETER_SIG.repeat(NOTE_MAX_SIGNATURES)}`, [peter]).verified).toHaveLength(1)
    const forged = `${PETER.text}\n${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`
    expect(codeOf(() => openNote(forged, [peter]))).toBe('ERR_NOTE_BAD_SIGNATURE')
    const enochForged = `${ENOCH_SIG.slice(0, 60)}ABCD${ENOCH_SIG.slice(60)}`
    const dup = openNote(`${PETER.text}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${enochForged}`, [peter])
    expect(dup.verified).toHaveLength(1)
    expect(dup.signatures).toHaveLength(5)
    const bad = [
      PETER.text,
      `${PETER.text}\n`,
      `${PETER.text}\n${PETER_SIG.slice(0, -1)}`,
      `\x01${PETER.text}\n${PETER_SIG}`,
      `${PETER.text}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${PETER.text}\n${PETER_SIG}Unexpected line.\n`,
      `${PETER.text}\n— PeterNeumann\n`,
      `${PETER.text}\n— PeterNeumann AAAA\n`,
      `${PETER.text}\r\n${PETER_SIG}`,
      `\ud800${PETER.text}\n${PETER_SIG}`,
    ]
    for (const m of bad) expect(codeOf(() => openNote(m, [peter])), JSON.stringify(m)).toBe('ERR_NOTE_MALFORMED')
    expect(codeOf(() => openNote(`${PETER.text}\n— PeterNeumann x08go/ZJkuBS9UG!\n`, [peter]))).toBe('ERR_NOTE_BASE64')
    expect(codeOf(() => openNote(`${PETER.text}\n— PeterNeumann AAAAAB==\n`, [peter]))).toBe('ERR_NOTE_BASE64') // non-canonical bits
    expect(codeOf(() => openNote(new Uint8Array([0xff, 0x0a, 0x0a]), [peter]))).toBe('ERR_NOTE_MALFORMED')
    expect(codeOf(() => openNote(`${'a'.repeat(1 << 20)}\n\n${PETER_SIG}`, [peter]))).toBe('ERR_NOTE_TOO_LONG')
  })

  it('verifies the c2sp.org/signed-note example', () => {
    const v = parseVkey('example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k')
    const note = 'This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n'
    expect(openNote(note, [v]).text).toBe('This is an example message.\n')
  })
})

describe('signed notes: properties', () => {
  const nameArb = fc.stringMatching(/^[a-z0-9./_-]{1,30}$/)
  const textArb = fc
    // eslint-disable-next-line no-control-regex
    .array(fc.string({ unit: 'grapheme', maxLength: 40 }).map((l) => l.replace(/[\u0000-\u001f\ud800-\udfff]/g, '')), { minLength: 1, maxLength: 5 })
    .map((ls) => `${ls.join('\n')}\n`)

  it('signNote → openNote round-trips for any text and signers; each key verifies its own line only', () => {
    fc.assert(
      fc.property(textArb, fc.uniqueArray(nameArb, { minLength: 1, maxLength: 4 }), fc.nat(), (text, names, seed) => {
        const signers = names.map((name, i) => ({ name, keyPair: kp(seed + i) }))
        const note = signNote(text, signers)
        const verifiers = signers.map((s) => noteVerifier(s.name, s.keyPair.publicKey))
        const all = openNote(note, verifiers)
        expect(all.text).toBe(text)
        expect(all.verified.map((s) => s.name)).toEqual(names)
        expect(openNote(note, [verifiers[0]]).verified).toHaveLength(1)
        expect(parseVkey(formatVkey(names[0], signers[0].keyPair.publicKey))).toEqual(verifiers[0])
        // any change of the text breaks a known key's signature
        const altered = `${text.slice(0, -1)}x\n${note.slice(text.length)}`
        expect(codeOf(() => openNote(altered, verifiers))).toBe('ERR_NOTE_BAD_SIGNATURE')
      }),
      { numRuns: 100 },
    )
  })

  it('fuzz: random and mutated notes and vkeys give a TlogError or a result, never another exception', () => {
    const base = signNote('example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n', [{ name: 'example.com/log', keyPair: kp(1) }])
    const v = [noteVerifier('example.com/log', kp(1).publicKey), parseVkey(PETER.vkey)]
    const mutated = fc.tuple(fc.nat(base.length), fc.nat(base.length), fc.string({ unit: 'binary', maxLength: 8 })).map(([i, j, s]) => base.slice(0, i) + s + base.slice(Math.min(base.length, i + (j % 6))))
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), mutated, fc.uint8Array().map((b) => Buffer.from(b).toString('latin1'))), (s) => {
        codeOf(() => openNote(s, v))
        codeOf(() => parseNote(s))
        codeOf(() => parseVkey(s))
        codeOf(() => parseSkey(s))
        codeOf(() => parseCheckpoint(s))
      }),
      { numRuns: 1500 },
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        codeOf(() => openNote(b, v))
      }),
      { numRuns: 500 },
    )
  })
})

const checkpointArb: fc.Arbitrary<Checkpoint> = fc.record({
  origin: fc.stringMatching(/^[a-z0-9.]{1,20}\/[a-z0-9/-]{1,20}$/),
  size: fc.oneof(fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
  root: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  extensions: fc.array(fc.stringMatching(/^[ -~]{1,30}$/), { maxLength: 3 }),
})

describe('tlog-checkpoint', () => {
  it('parses the c2sp.org/tlog-checkpoint example', () => {
    const c = parseCheckpoint('example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n')
    expect(c.origin).toBe('example.com/behind-the-sofa')
    expect(c.size).toBe(20852163)
    expect(Buffer.from(c.root).toString('base64')).toBe('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=')
    expect(c.extensions).toEqual([])
  })

  it('openCheckpoint verifies the log’s signature, parses the text and checks the origin', () => {
    const key = kp(20)
    const text = formatCheckpoint({ origin: 'example.com/log', size: 7, root: sha256(new Uint8Array([7])), extensions: [] })
    const note = signNote(text, [{ name: 'example.com/log', keyPair: key }])
    const v = noteVerifier('example.com/log', key.publicKey)
    const { checkpoint, note: opened } = openCheckpoint(note, [v], 'example.com/log')
    expect(checkpoint.size).toBe(7)
    expect(opened.verified).toHaveLength(1)
    expect(codeOf(() => openCheckpoint(note, [v], 'example.com/other'))).toBe('ERR_CHECKPOINT_MALFORMED')
    expect(codeOf(() => openCheckpoint(note, [noteVerifier('example.com/log', kp(21).publicKey)]))).toBe('ERR_NOTE_UNVERIFIED')
    expect(codeOf(() => openCheckpoint(signNote('not a checkpoint\n', [{ name: 'example.com/log', keyPair: key }]), [v]))).toBe('ERR_CHECKPOINT_MALFORMED')
  })

  it('formatCheckpoint → parseCheckpoint round-trips', () => {
    fc.assert(
      fc.property(checkpointArb, (c) => {
        const text = formatCheckpoint(c)
        expect(parseCheckpoint(text)).toEqual({ ...c, root: new Uint8Array(c.root) })
        expect(formatCheckpoint(parseCheckpoint(text))).toBe(text)
      }),
      { numRuns: 200 },
    )
  })

  it('refuses malformed checkpoints with ERR_CHECKPOINT_MALFORMED', () => {
    const root = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I='
    for (const t of [
      '',
      'o\n1\n',
      `o\n1\n${root}`,
      `\n1\n${root}\n`,
      `o\n01\n${root}\n`,
      `o\n-1\n${root}\n`,
      `o\n1.0\n${root}\n`,
      `o\n 1\n${root}\n`,
      `o\n9007199254740992\n${root}\n`,
      `o\n1\n${root.slice(4)}\n`,
      `o\n1\n${root.replace('=', '')}\n`,
      `o\n1\n${root}\n\n`,
      `o\n1\n${root}\next\n\n`,
      `o\r\n1\n${root}\n`,
      `o\n1\n${root}\n${'x'.repeat(CHECKPOINT_MAX_BYTES)}\n`,
    ]) {
      expect(codeOf(() => parseCheckpoint(t)), JSON.stringify(t.slice(0, 80))).toBe('ERR_CHECKPOINT_MALFORMED')
    }
    const good = { origin: 'o', size: 1, root: new Uint8Array(32), extensions: [] }
    for (const c of [
      { ...good, origin: '' },
      { ...good, origin: 'a\nb' },
      { ...good, size: -1 },
      { ...good, size: 2 ** 53 },
      { ...good, size: 1.5 },
      { ...good, root: new Uint8Array(31) },
      { ...good, extensions: [''] },
      { ...good, extensions: ['a\nb'] },
    ]) {
      expect(codeOf(() => formatCheckpoint(c))).toBe('ERR_CHECKPOINT_MALFORMED')
    }
  })
})

describe('tlog-cosignature', () => {
  const log = { name: 'example.com/log', keyPair: kp(10) }
  const witness = { name: 'witness.example/w1', keyPair: kp(11) }
  const text = formatCheckpoint({ origin: 'example.com/log', size: 20852163, root: sha256(new Uint8Array([1])), extensions: [] })
  const note = signNote(text, [log])

  it('signs the spec’s message: "cosignature/v1\\ntime <t>\\n" ‖ checkpoint text, key ID with type 0x04', () => {
    const line = cosign(note, witness.name, witness.keyPair, 1679315147)
    expect(line.startsWith(`— ${witness.name} `)).toBe(true)
    expect(line.endsWith('\n')).toBe(true)
    const payload = Buffer.from(line.slice(`— ${witness.name} `.length, -1), 'base64')
    expect(payload).toHaveLength(4 + 8 + 64)
    const keyId = sha256(Buffer.concat([Buffer.from(`${witness.name}\n`), Buffer.from([0x04]), witness.keyPair.publicKey])).subarray(0, 4)
    expect(payload.subarray(0, 4).equals(Buffer.from(keyId))).toBe(true)
    expect(payload.readBigUInt64BE(4)).toBe(1679315147n)
    const message = Buffer.from(`cosignature/v1\ntime 1679315147\n${text}`)
    expect(getCrypto().verify(witness.keyPair.publicKey, message, payload.subarray(12))).toBe(true)
    const vkey = formatCosignerVkey(witness.name, witness.keyPair.publicKey)
    const verifier = parseVkey(vkey)
    expect(verifier).toEqual(cosignerVerifier(witness.name, witness.keyPair.publicKey))
    expect(verifier.alg).toBe(NOTE_ALG_COSIGNATURE_V1)
    expect(verifyCosignature(line, note, verifier)).toEqual({ timestamp: 1679315147 })
    expect(verifyCosignature(line, text, verifier)).toEqual({ timestamp: 1679315147 })
    // the cosigned note opens with the log's and the witness's keys together
    const cosigned = appendSignatures(note, [line])
    const opened = openNote(cosigned, [noteVerifier(log.name, log.keyPair.publicKey), verifier])
    expect(opened.verified.map((s) => s.name)).toEqual([log.name, witness.name])
    expect(verifyCosignature(opened.verified[1], cosigned, verifier).timestamp).toBe(1679315147)
    expect(appendSignatures(cosigned, [line])).toBe(cosigned)
  })

  it('refuses cosignatures of other keys, other checkpoints, other times, and malformed lines', () => {
    const line = cosign(text, witness.name, witness.keyPair, 1700000000)
    const verifier = cosignerVerifier(witness.name, witness.keyPair.publicKey)
    const other = formatCheckpoint({ ...parseCheckpoint(text), size: 20852164 })
    expect(codeOf(() => verifyCosignature(line, other, verifier))).toBe('ERR_COSIGNATURE_INVALID')
    expect(codeOf(() => verifyCosignature(line, text, cosignerVerifier(witness.name, kp(12).publicKey)))).toBe('ERR_COSIGNATURE_KEY')
    expect(codeOf(() => verifyCosignature(line, text, cosignerVerifier('other.example', witness.keyPair.publicKey)))).toBe('ERR_COSIGNATURE_KEY')
    expect(codeOf(() => verifyCosignature(line, text, noteVerifier(witness.name, witness.keyPair.publicKey)))).toBe('ERR_COSIGNATURE_KEY')
    const payload = Buffer.from(line.slice(`— ${witness.name} `.length, -1), 'base64')
    payload[11] ^= 1 // timestamp 1700000000 → 1700000001: the signature no longer matches
    expect(codeOf(() => verifyCosignature(`— ${witness.name} ${payload.toString('base64')}\n`, text, verifier))).toBe('ERR_COSIGNATURE_INVALID')
    payload[4] = 0x80 // timestamp ≥ 2^63
    expect(codeOf(() => verifyCosignature(`— ${witness.name} ${payload.toString('base64')}\n`, text, verifier))).toBe('ERR_COSIGNATURE_MALFORMED')
    expect(codeOf(() => verifyCosignature(`— ${witness.name} ${payload.subarray(0, 70).toString('base64')}\n`, text, verifier))).toBe('ERR_COSIGNATURE_MALFORMED')
    expect(codeOf(() => verifyCosignature('not a line', text, verifier))).toBe('ERR_COSIGNATURE_MALFORMED')
    expect(codeOf(() => verifyCosignature(`${line}${line}`, text, verifier))).toBe('ERR_COSIGNATURE_MALFORMED')
    expect(codeOf(() => cosign(text, witness.name, witness.keyPair, -1))).toBe('ERR_COSIGNATURE_MALFORMED')
    expect(codeOf(() => cosign(text, 'bad name', witness.keyPair, 1))).toBe('ERR_KEY_NAME')
    expect(codeOf(() => cosign('not a checkpoint\n', witness.name, witness.keyPair, 1))).toBe('ERR_CHECKPOINT_MALFORMED')
    // a note verifier with the cosigner's name but type 0x01 has another key ID: the cosignature is unknown to it
    expect(codeOf(() => openNote(appendSignatures(note, [line]), [noteVerifier(witness.name, witness.keyPair.publicKey)]))).toBe('ERR_NOTE_UNVERIFIED')
  })

  it('property: cosign → verifyCosignature for any checkpoint and timestamp', () => {
    fc.assert(
      fc.property(checkpointArb, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (c, t) => {
        const cp = formatCheckpoint(c)
        const line = cosign(cp, witness.name, witness.keyPair, t)
        expect(verifyCosignature(line, cp, cosignerVerifier(witness.name, witness.keyPair.publicKey))).toEqual({ timestamp: t })
      }),
      { numRuns: 50 },
    )
  })

  it('fuzz: random cosignature lines give a TlogError, never another exception', () => {
    const verifier = cosignerVerifier(witness.name, witness.keyPair.publicKey)
    const good = cosign(text, witness.name, witness.keyPair, 5)
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.tuple(fc.nat(good.length), fc.string({ maxLength: 4 })).map(([i, s]) => good.slice(0, i) + s + good.slice(i + 1))), (s) => {
        const code = codeOf(() => verifyCosignature(s, text, verifier))
        if (s !== good && s !== good.slice(0, -1)) expect(code).toBeDefined()
      }),
      { numRuns: 1000 },
    )
  })
})

describe('names and keys', () => {
  it('refuses invalid key names and keys', () => {
    for (const n of ['', 'a b', 'a+b', 'a\tb', 'a\u00a0b', 'a\u2028b', 'a\u0001b', 'a\u3000b']) {
      expect(codeOf(() => formatVkey(n, new Uint8Array(32))), JSON.stringify(n)).toBe('ERR_KEY_NAME')
      expect(codeOf(() => signNote('x\n', [{ name: n, keyPair: kp(1) }]))).toBe('ERR_KEY_NAME')
    }
    expect(codeOf(() => formatVkey('a', new Uint8Array(31)))).toBe('ERR_VKEY_MALFORMED')
    expect(codeOf(() => formatVkey('a', new Uint8Array(32), 2))).toBe('ERR_VKEY_MALFORMED')
    expect(codeOf(() => signNote('no newline', [{ name: 'a', keyPair: kp(1) }]))).toBe('ERR_NOTE_MALFORMED')
    expect(codeOf(() => signNote('x\n', []))).toBe('ERR_NOTE_MALFORMED')
    expect(codeOf(() => signNote('bell\u0007\n', [{ name: 'a', keyPair: kp(1) }]))).toBe('ERR_NOTE_MALFORMED')
    expect(codeOf(() => signNote(`${'a'.repeat(1 << 20)}\n`, [{ name: 'a', keyPair: kp(1) }]))).toBe('ERR_NOTE_TOO_LONG')
    expect(codeOf(() => signNote('x\n', Array.from({ length: 101 }, () => ({ name: 'a', keyPair: kp(1) }))))).toBe('ERR_NOTE_TOO_MANY_SIGNATURES')
    expect(codeOf(() => appendSignatures(PETER.message, ['not a signature line']))).toBe('ERR_NOTE_MALFORMED')
  })
})
