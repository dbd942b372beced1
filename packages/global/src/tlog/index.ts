// C2SP transparency-log standards (signed-note, tlog-checkpoint, tlog-cosignature, tlog-witness) and
// RFC 6962 / RFC 9162 Merkle proofs: a pure library, see docs/transparency-log.md.
export * from './errors.js'
export * from './merkle.js'
export * from './note.js'
export * from './checkpoint.js'
export * from './cosignature.js'
export * from './witness.js'
