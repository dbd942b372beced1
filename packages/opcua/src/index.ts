// @profichain/opcua — DESIGN §14: OPC UA bridge and machine-tool simulator.
export { OPCUA_ERROR_CODES, OpcuaError, type OpcuaErrorCode } from './errors.js'
export {
  type BridgeFileHeader,
  type BridgeGapMarker,
  type BridgeLine,
  type JsonDataSetMessage,
  type JsonDataValue,
  type JsonNetworkMessage,
  MAX_LINE_BYTES,
  parseBridgeLine,
} from './dataset.js'
export type { RecordOutput } from './output.js'
export { createFileOutput, FileOutput, type FileOutputInit, type RotateInit } from './file-output.js'
export {
  type Bridge,
  type BridgeComponents,
  type BridgeEvents,
  type BridgeInit,
  type BridgeLogger,
  type BridgeStats,
  createBridge,
  type ItemConfig,
  jsonValue,
  SECURITY_MODES,
  SECURITY_POLICIES,
  type SecurityModeName,
  type SecurityPolicyName,
  type ServerConfig,
} from './bridge.js'
export { createSimulator, raiseSamplingLimits, routeOpcuaLogs, SIM_NAMESPACE, SIM_VARIABLES, type SimVariable, simNodeId, type Simulator, type SimulatorInit } from './simulator.js'
export { loadBridgeConfig, parseBridgeConfig, type BridgeConfig } from './config.js'
export { createApiOutput, type ApiOutputInit, type IngestClientLike } from './api-output.js'
