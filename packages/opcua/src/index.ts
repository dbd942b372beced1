// @profichain/opcua — DESIGN §14.
export {}
