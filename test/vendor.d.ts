// Typings for the outside tools the tests check receipts with (they ship none; only what the tests call).
declare module 'chainpoint-parse' {
  export interface ParsedAnchor { type: string; anchor_id: string; uris?: string[]; expected_value: string }
  export interface ParsedBranch { label?: string; anchors: ParsedAnchor[]; branches?: ParsedBranch[] }
  export function parse(proof: object): { hash: string; branches: ParsedBranch[] }
}
declare module 'chainpoint-proof-json-schema' {
  export function validate(proof: object): { valid: boolean; errors?: unknown }
}
