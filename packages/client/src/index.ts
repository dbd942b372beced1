// @profichain/client — DESIGN §12: device/app SDK for the Profichain ingest API.
export {}
