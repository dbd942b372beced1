import { CliError } from './util.js'

/** `127.0.0.1:8545` → `http://127.0.0.1:8545`: a base URL without a scheme means plain HTTP. */
export function apiBase(api: string): string {
  const s = api.trim()
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `http://${s}`
  let u: URL
  try {
    u = new URL(withScheme)
  } catch {
    throw new CliError('ERR_CLI_USAGE', `--api ${api} is not a URL (give e.g. http://127.0.0.1:8545 or 127.0.0.1:8545)`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CliError('ERR_CLI_USAGE', `--api ${api}: only http:// and https:// are supported`)
  return u.toString().replace(/\/+$/, '')
}

/** The bearer token for API calls: `--token` wins over PROFICHAIN_API_TOKEN. */
export function apiToken(flag?: string): string | undefined {
  return flag || process.env.PROFICHAIN_API_TOKEN || undefined
}

/** Minimal GraphQL client for the CLI: one POST, typed errors turned into one clear line. */
export async function graphql<T>(api: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
  const base = apiBase(api)
  const url = new URL('graphql', `${base}/`)
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
  const bearer = apiToken(token)
  if (bearer) headers.authorization = `Bearer ${bearer}`
  let res: Response
  try {
    res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }), signal: AbortSignal.timeout(30_000) })
  } catch (err) {
    throw new CliError('ERR_CLI_API_UNREACHABLE', `cannot reach the node API at ${base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`, { url: base }, { cause: err })
  }
  if (res.status === 401) throw new CliError('ERR_CLI_API_AUTH', `the node API at ${base} wants a bearer token: set PROFICHAIN_API_TOKEN or --token`, { url: base })
  const body = (await res.json().catch(() => null)) as { data?: T; errors?: Array<{ message: string }> } | null
  if (!body) throw new CliError('ERR_CLI_API_RESPONSE', `the node API at ${base} answered ${res.status} with no JSON`, { url: base, status: res.status })
  if (body.errors?.length) throw new CliError('ERR_CLI_API_RESPONSE', body.errors.map((e) => e.message).join('; '), { url: base, status: res.status })
  return body.data as T
}
