import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectCode, expectUnionMatchesSource, thrown } from '../../core/test/error-codes.js'
import { graphql } from '../src/api-client.js'
import { CLI_ERROR_CODES, CliError, init } from '../src/index.js'
import { readJsonFile } from '../src/util.js'

const CODES: readonly string[] = CLI_ERROR_CODES

async function listen(status: number, body: string): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => res.writeHead(status, { 'content-type': 'text/plain' }).end(body))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

async function close(server: Server): Promise<void> {
  await new Promise<void>((r) => server.close(() => r()))
}

describe('cli errors', () => {
  it('every CliError carries a code of CLI_ERROR_CODES; exit code 2 exactly for ERR_CLI_USAGE', async () => {
    const missing = join(tmpdir(), `pc-no-such-${process.pid}.json`)
    const cases: Array<[fn: () => unknown, code: string]> = [
      [() => graphql('ftp://x:1', '{ status { height } }'), 'ERR_CLI_USAGE'],
      [() => init({ type: 'nope' as never, dataDir: tmpdir(), p2pPort: 0, apiPort: 0 }), 'ERR_CLI_USAGE'],
      [() => readJsonFile(missing, 'genesis'), 'ERR_CLI_FILE'],
    ]
    const auth = await listen(401, '')
    const notJson = await listen(500, 'oops')
    const gone = await listen(200, '')
    await close(gone.server)
    try {
      cases.push([() => graphql(auth.url, '{ status { height } }'), 'ERR_CLI_API_AUTH'])
      cases.push([() => graphql(notJson.url, '{ status { height } }'), 'ERR_CLI_API_RESPONSE'])
      cases.push([() => graphql(gone.url, '{ status { height } }'), 'ERR_CLI_API_UNREACHABLE'])
      for (const [fn, code] of cases) {
        const err = await thrown(fn)
        expect(expectCode(err, CODES, 'CliError')).toBe(code)
        expect((err as CliError).exitCode).toBe(code === 'ERR_CLI_USAGE' ? 2 : 1)
      }
    } finally {
      await close(auth.server)
      await close(notJson.server)
    }
  })

  it('the code union and the sources agree', () => {
    expectUnionMatchesSource(join(import.meta.dirname, '../src'), CODES, ['CliError'])
  })
})
