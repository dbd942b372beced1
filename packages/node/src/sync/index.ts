export { createSync, type SyncComponents, type SyncEvents, type SyncInit, type SyncNet, type SyncService, type SyncStore } from './sync-client.js'
export { createSyncHandlers } from './sync-server.js'
export { createWatchdog, trackImports, type WatchedPart, type Watchdog, type WatchdogComponents, type WatchdogInit } from './watchdog.js'
