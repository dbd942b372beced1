export * from './partners.js'
export { type PartnerProgress, type PartnersState, PartnersStateFile, type PendingAnchor } from './state.js'
export { loadOrCreateHpkeKey } from './hpke-key.js'
export * from './wiring.js'
