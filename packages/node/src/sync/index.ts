export { createSync, type SyncComponents, type SyncEvents, type SyncInit, type SyncNet, type SyncService, type SyncStore } from './sync-client.js'
export { createSyncHandlers } from './sync-server.js'
