export { createIngestApi, type IngestApiEvents, type IngestApiSubsystem, type IngestApiSubsystemComponents, type IngestApiSubsystemInit } from './ingest-api.js'
export { NodeIngestGateway, type GatewayComponents, type GatewayInit, type OriginCheck } from './gateway.js'
export { migrateOwed, OwedReceipts } from './owed.js'
