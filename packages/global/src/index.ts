// @profichain/global — DESIGN §11. Each area keeps its own index; this file only re-exports them.
export * from './tlog/index.js'
export * from './broker/index.js'
export * from './log/index.js'
export * from './entangle/index.js'
