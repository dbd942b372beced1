import { generateKeyPairSync, X509Certificate as NodeX509, randomBytes, sign } from 'node:crypto'
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { certFingerprint, toHex } from '@profichain/core'
import { IngestApiError } from './errors.js'

/** The ingest API's TLS identity: PEMs for node:tls and the pinned fingerprint. */
export interface IngestCertificate {
  /** Certificate, PEM. */
  cert: string
  /** PKCS#8 private key, PEM (file mode 0600). */
  key: string
  /** SHA-256 of the certificate's DER (what clients pin). */
  fingerprint: Uint8Array
  /** The same, 64 lowercase hex. */
  fingerprintHex: string
  certPath: string
  keyPath: string
}

export const CERT_FILE = 'cert.pem'
export const KEY_FILE = 'key.pem'

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  )

/** Write a file atomically (tmp + rename) with the given mode. */
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp`
  await writeFile(tmp, data, { mode })
  await chmod(tmp, mode)
  await rename(tmp, path)
}

// DER (X.690) of the few types a certificate needs.
function der(tag: number, body: Uint8Array): Uint8Array {
  const n = body.byteLength
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]
  return Uint8Array.from([tag, ...len, ...body])
}
const seq = (...items: Uint8Array[]) => der(0x30, Buffer.concat(items))
const set = (...items: Uint8Array[]) => der(0x31, Buffer.concat(items))
const explicit = (n: number, inner: Uint8Array) => der(0xa0 + n, inner)
function oid(dotted: string): Uint8Array {
  const p = dotted.split('.').map(Number)
  const out = [40 * p[0] + p[1]]
  for (const v of p.slice(2)) {
    const bytes = [v & 0x7f]
    for (let x = v >>> 7; x > 0; x >>>= 7) bytes.unshift((x & 0x7f) | 0x80)
    out.push(...bytes)
  }
  return der(0x06, Uint8Array.from(out))
}
/** A positive INTEGER from big-endian magnitude bytes. */
function integer(mag: Uint8Array): Uint8Array {
  let i = 0
  while (i < mag.length - 1 && mag[i] === 0) i++
  const m = mag.subarray(i)
  return der(0x02, m[0] & 0x80 ? Uint8Array.from([0, ...m]) : m)
}
const utf8String = (s: string) => der(0x0c, new Uint8Array(Buffer.from(s, 'utf8')))
const boolTrue = der(0x01, Uint8Array.of(0xff))
const octets = (b: Uint8Array) => der(0x04, b)
const bits = (b: Uint8Array) => der(0x03, Uint8Array.from([0, ...b]))
/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(d: Date): Uint8Array {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z' // YYYYMMDDHHMMSSZ
  const year = d.getUTCFullYear()
  return year < 2050 ? der(0x17, new Uint8Array(Buffer.from(iso.slice(2)))) : der(0x18, new Uint8Array(Buffer.from(iso)))
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'))

/**
 * A new self-signed ECDSA P-256 certificate (X.509 v3, valid 100 years: it is pinned, never checked for
 * expiry), built with node:crypto and a small DER writer.
 */
export async function generateCertificate(commonName: string): Promise<{ cert: string; key: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }))
  const serial = new Uint8Array(randomBytes(16))
  serial[0] = (serial[0] & 0x7f) | 0x01 // positive, 16 bytes
  const name = seq(set(seq(oid('2.5.4.3'), utf8String(commonName.slice(0, 64)))))
  const now = Date.now()
  const ext = (id: string, critical: boolean, value: Uint8Array) => seq(oid(id), ...(critical ? [boolTrue] : []), octets(value))
  const extensions = explicit(
    3,
    seq(
      ext('2.5.29.19', true, seq()), // basicConstraints: not a CA
      ext('2.5.29.15', true, der(0x03, Uint8Array.of(7, 0x80))), // keyUsage: digitalSignature (bit 0; 7 unused bits)
      ext('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage: serverAuth
    ),
  )
  const tbs = seq(
    explicit(0, integer(Uint8Array.of(2))), // v3
    integer(serial),
    ECDSA_SHA256,
    name,
    seq(time(new Date(now - 60_000)), time(new Date(now + 100 * 365 * 24 * 3600 * 1000))),
    name,
    spki,
    extensions,
  )
  const signature = new Uint8Array(sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' }))
  const certDer = seq(tbs, ECDSA_SHA256, bits(signature))
  const b64 = Buffer.from(certDer).toString('base64').replace(/.{64}/g, '$&\n')
  const cert = `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`
  const key = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
  return { cert, key }
}

function fromPem(certPem: string, keyPem: string, certPath: string, keyPath: string): IngestCertificate {
  let der: Uint8Array
  try {
    der = new Uint8Array(new NodeX509(certPem).raw)
  } catch (err) {
    throw new IngestApiError('ERR_INGEST_API_CERT', `${certPath} is not a PEM certificate: ${(err as Error).message}; delete it and its key to generate a new one (clients must then pin the new fingerprint)`, { path: certPath }, { cause: err })
  }
  const fingerprint = certFingerprint(der)
  return { cert: certPem, key: keyPem, fingerprint, fingerprintHex: toHex(fingerprint), certPath, keyPath }
}

/**
 * The certificate in `dir` (`cert.pem`, `key.pem`), generated on first use. The key must be mode 0600
 * (refused otherwise, like node keys). Returns the fingerprint clients pin.
 */
export async function ensureCertificate(dir: string, commonName = 'profichain-ingest'): Promise<IngestCertificate & { created: boolean }> {
  const certPath = join(dir, CERT_FILE)
  const keyPath = join(dir, KEY_FILE)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const [hasCert, hasKey] = await Promise.all([exists(certPath), exists(keyPath)])
    if (!hasCert && !hasKey) {
      const g = await generateCertificate(commonName)
      await writeAtomic(keyPath, g.key, 0o600)
      await writeAtomic(certPath, g.cert, 0o644)
      return { ...fromPem(g.cert, g.key, certPath, keyPath), created: true }
    }
    if (!hasCert || !hasKey) {
      throw new IngestApiError(
        'ERR_INGEST_API_CERT',
        `${hasCert ? keyPath : certPath} is missing but ${hasCert ? certPath : keyPath} exists: restore it, or delete both to generate a new certificate (clients must then pin the new fingerprint)`,
        { path: dir },
      )
    }
    const st = await stat(keyPath)
    if ((st.mode & 0o077) !== 0) {
      throw new IngestApiError('ERR_INGEST_API_CERT', `${keyPath} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${keyPath}`, { path: keyPath })
    }
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')])
    return { ...fromPem(cert, key, certPath, keyPath), created: false }
  } catch (err) {
    if (err instanceof IngestApiError) throw err
    throw new IngestApiError('ERR_INGEST_API_CERT', `cannot set up the ingest API certificate in ${dir}: ${(err as Error).message}`, { path: dir }, { cause: err })
  }
}

/** The fingerprint of the certificate in `dir`, or undefined if there is none yet (`status`, `init`). */
export async function readCertificateFingerprint(dir: string): Promise<string | undefined> {
  const certPath = join(dir, CERT_FILE)
  if (!(await exists(certPath))) return undefined
  return fromPem(await readFile(certPath, 'utf8'), '', certPath, join(dir, KEY_FILE)).fingerprintHex
}
