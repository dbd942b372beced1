import { chmod, mkdtemp, rm, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { expectCode, expectUnionMatchesSource, thrown } from '../../core/test/error-codes.js'
import { createIngestApiServer, ensureCertificate, INGEST_API_ERROR_CODES, readCertificateFingerprint, TokenBuckets } from '../src/index.js'

const CODES: readonly string[] = INGEST_API_ERROR_CODES
const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

describe('ingest API: token buckets', () => {
  it('grants the burst, then the rate; keys are independent; idle full buckets are pruned', () => {
    let t = 0
    const b = new TokenBuckets(100, 50, 2, () => t)
    expect(b.take('a', 80)).toBe(50)
    expect(b.take('a', 10)).toBe(0)
    t += 100 // 0.1 s → 10 tokens
    expect(b.take('a', 30)).toBe(10)
    expect(b.take('b', 20)).toBe(20)
    t += 10_000 // both full again
    expect(b.take('c', 1)).toBe(1) // over maxKeys: full buckets dropped first
    expect(b.size).toBeLessThanOrEqual(2)
    expect(b.take('a', 0)).toBe(0)
  })
})

describe('ingest API: certificate', () => {
  it('is made once (key 0600) and read back with the same fingerprint', async () => {
    const d = await mkdtemp(join(tmpdir(), 'pc-cert-'))
    dirs.push(d)
    const a = await ensureCertificate(join(d, 'c'))
    expect(a.created).toBe(true)
    expect(a.fingerprintHex).toMatch(/^[0-9a-f]{64}$/)
    const b = await ensureCertificate(join(d, 'c'))
    expect(b.created).toBe(false)
    expect(b.fingerprintHex).toBe(a.fingerprintHex)
    expect(await readCertificateFingerprint(join(d, 'c'))).toBe(a.fingerprintHex)
    expect(await readCertificateFingerprint(join(d, 'none'))).toBeUndefined()
  })

  it('refuses a readable key and a lone certificate with ERR_INGEST_API_CERT', async () => {
    const d = await mkdtemp(join(tmpdir(), 'pc-cert-'))
    dirs.push(d)
    const c = await ensureCertificate(d)
    await chmod(c.keyPath, 0o644)
    expect(expectCode(await thrown(() => ensureCertificate(d)), CODES, 'IngestApiError')).toBe('ERR_INGEST_API_CERT')
    await unlink(c.keyPath)
    expect(expectCode(await thrown(() => ensureCertificate(d)), CODES, 'IngestApiError')).toBe('ERR_INGEST_API_CERT')
  })
})

describe('ingest API errors', () => {
  it('bad options are ERR_INGEST_API_CONFIG; a busy port ERR_INGEST_API_LISTEN; restart after stop ERR_INGEST_API_STOPPED', async () => {
    const d = await mkdtemp(join(tmpdir(), 'pc-cert-'))
    dirs.push(d)
    const certificate = await ensureCertificate(d)
    const gateway = {
      identify: async () => ({ status: 'unknown' as const, deviceId: '', nextSeq: 0 }),
      submit: async () => [],
      owedReceipts: async () => [],
      receiptsAcked: async () => {},
    }
    const components = { network: 'n', certificate, gateway }
    expect(expectCode(await thrown(() => createIngestApiServer({ port: 70000 }, components)), CODES, 'IngestApiError')).toBe('ERR_INGEST_API_CONFIG')
    expect(expectCode(await thrown(() => createIngestApiServer({ limits: { maxFrameBytes: 10 } }, components)), CODES)).toBe('ERR_INGEST_API_CONFIG')
    const a = createIngestApiServer({ port: 0 }, components)
    const addr = await a.start()
    const b = createIngestApiServer({ port: addr.port }, components)
    expect(expectCode(await thrown(() => b.start()), CODES)).toBe('ERR_INGEST_API_LISTEN')
    await a.stop()
    expect(expectCode(await thrown(() => a.start()), CODES)).toBe('ERR_INGEST_API_STOPPED')
  })

  it('the code union and the sources agree', () => {
    expectUnionMatchesSource(join(import.meta.dirname, '../src/api'), CODES, ['IngestApiError'])
  })
})
