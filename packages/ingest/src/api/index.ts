export * from './cert.js'
export * from './errors.js'
export * from './server.js'
export { TokenBuckets } from './rate.js'
