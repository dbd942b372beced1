/** GraphQL over fetch to the node that serves the page (same origin), with the API token when one is set. */
const TOKEN_KEY = 'profichain.apiToken'

export function getToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined
}

/** The token lives in sessionStorage only: gone when the tab closes, never in localStorage or a cookie. */
export function setToken(token: string | undefined): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token)
  else sessionStorage.removeItem(TOKEN_KEY)
}

/** The Authorization header when a token is set. */
export function authHeaders(): Record<string, string> {
  const t = getToken()
  return t ? { authorization: `Bearer ${t}` } : {}
}

function headers(accept: string): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept }
  const t = getToken()
  if (t) h.authorization = `Bearer ${t}`
  return h
}

export class GqlError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message)
  }
}

export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch('/graphql', { method: 'POST', headers: headers('application/json'), body: JSON.stringify({ query, variables }) })
  let body: { data?: T; errors?: Array<{ message: string }> }
  try {
    body = (await res.json()) as typeof body
  } catch {
    throw new GqlError(`the node answered HTTP ${res.status} without JSON`, res.status)
  }
  if (res.status === 401) throw new GqlError('the node requires an API token: enter it in the "API token" field above', 401)
  if (body.errors?.length && !body.data) throw new GqlError(body.errors.map((e) => e.message).join('; '), res.status)
  return body.data as T
}

/**
 * Follows a GraphQL subscription over SSE (graphql-yoga's distinct-connection mode) with fetch, so the
 * token goes in a header (EventSource cannot send one). Calls onData per event until the signal aborts.
 */
export async function subscribe<T>(query: string, onData: (d: T) => void, signal: AbortSignal, onOpen?: () => void): Promise<void> {
  const res = await fetch('/graphql', { method: 'POST', headers: headers('text/event-stream'), body: JSON.stringify({ query }), signal })
  if (!res.ok || !res.body) throw new GqlError(`subscription refused: HTTP ${res.status}`, res.status)
  onOpen?.()
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buf = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buf += value
    let i: number
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, i)
      buf = buf.slice(i + 2)
      const data = event
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trim())
        .join('\n')
      if (!data) continue
      try {
        const msg = JSON.parse(data) as { data?: T }
        if (msg.data) onData(msg.data)
      } catch {
        // a keep-alive or a partial frame: ignore
      }
    }
    if (buf.length > 1 << 20) buf = '' // bounded: a stream without separators is not SSE
  }
}
