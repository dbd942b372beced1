// Entanglement (DESIGN §11): anchor txs recording a partner's cosigned checkpoint, entanglement proofs
// sent back to the partner, and checks of both. See docs/global-network.md.
export * from './errors.js'
export * from './anchor.js'
export * from './proof.js'
export * from './wire.js'
