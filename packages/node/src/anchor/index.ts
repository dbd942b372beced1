export { createPublicAnchoring, PublicAnchoring, type PublicAnchoringComponents, type PublicAnchoringEvents, type PublicAnchoringInit } from './anchor.js'
