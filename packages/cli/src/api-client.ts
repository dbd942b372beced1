import { CliError } from './util.js'

/** Minimal GraphQL client for the CLI: one POST, typed errors turned into one clear line. */
export async function graphql<T>(api: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
  const url = new URL('graphql', api.endsWith('/') ? api : `${api}/`)
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
  const bearer = token ?? process.env.PROFICHAIN_API_TOKEN
  if (bearer) headers.authorization = `Bearer ${bearer}`
  let res: Response
  try {
    res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }), signal: AbortSignal.timeout(30_000) })
  } catch (err) {
    throw new CliError(`cannot reach the node API at ${api}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`)
  }
  if (res.status === 401) throw new CliError(`the node API at ${api} wants a bearer token: set PROFICHAIN_API_TOKEN or --token`)
  const body = (await res.json().catch(() => null)) as { data?: T; errors?: Array<{ message: string }> } | null
  if (!body) throw new CliError(`the node API at ${api} answered ${res.status} with no JSON`)
  if (body.errors?.length) throw new CliError(body.errors.map((e) => e.message).join('; '))
  return body.data as T
}
