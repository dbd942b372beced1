import './polyfill.js'
export * from './config.js'
export * from './node.js'
export * from './metrics.js'
