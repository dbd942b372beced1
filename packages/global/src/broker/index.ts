// The partner link over MQTT 3.1.1 (DESIGN §11 "Broker"): the embedded broker, the link, the envelope.
export { type Broker, type BrokerComponents, type BrokerInit, type BrokerTlsInit, createBroker } from './server.js'
export {
  BROKER_REJECT_REASONS,
  type BrokerHandler,
  type BrokerLink,
  type BrokerLinkComponents,
  type BrokerLinkEvents,
  type BrokerLinkInit,
  type BrokerLogger,
  type BrokerPartner,
  type BrokerRejectReason,
  type BrokerSender,
  brokerClientId,
  createBrokerLink,
} from './link.js'
export {
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  ENVELOPE_VERSION,
  isValidNetworkName,
  KIND as ENVELOPE_KIND,
  type Kind as EnvelopeKind,
  signEnvelope,
  TOPIC_PREFIX as BROKER_TOPIC_PREFIX,
  type UnsignedEnvelope,
  verifyEnvelopeSignature,
} from './envelope.js'
export { openEnvelope, type SealParams, sealEnvelope } from './seal.js'
export {
  decodePlaintext,
  encodePlaintext,
  type Plaintext,
} from './envelope.js'
export {
  generateHpkeKeyPair,
  type HpkeKeyPair,
  hpkeKeyPairFromPrivateKey,
  hpkePublicKeyFromHex,
  hpkePublicKeyToHex,
} from './hpke.js'
export { BROKER_ERROR_CODES, BrokerError, type BrokerErrorCode, type BrokerErrorMeta } from './errors.js'
