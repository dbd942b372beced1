import type { EventEmitter } from 'node:events'
import type { GraphQLError } from 'graphql'
import { type ApiResponseCode, createGraphQLError } from './errors.js'

/**
 * An async iterator over one emitter event, for a subscription. The queue is bounded: a client that does
 * not keep up is ended with an error instead of growing memory. Ends when `signal` aborts (server stop).
 */
export function eventIterator<T>(
  emitter: EventEmitter,
  event: string,
  opts: { maxQueue: number; signal: AbortSignal },
): AsyncIterableIterator<T> {
  const queue: T[] = []
  let wake: (() => void) | undefined
  let done = false
  let failure: GraphQLError | undefined
  const onEvent = (v: T) => {
    if (done) return
    if (queue.length >= opts.maxQueue) {
      failure = createGraphQLError(
        `subscription dropped: more than ${opts.maxQueue} events waiting for a slow client`,
        { extensions: { code: 'SLOW_CONSUMER' satisfies ApiResponseCode } },
      )
      finish()
      return
    }
    queue.push(v)
    wake?.()
  }
  const finish = () => {
    if (done) return
    done = true
    emitter.off(event, onEvent)
    opts.signal.removeEventListener('abort', finish)
    wake?.()
  }
  emitter.on(event, onEvent)
  if (opts.signal.aborted) finish()
  else opts.signal.addEventListener('abort', finish, { once: true })

  const it: AsyncIterableIterator<T> = {
    async next(): Promise<IteratorResult<T>> {
      for (;;) {
        if (queue.length > 0) return { value: queue.shift() as T, done: false }
        if (failure) {
          const f = failure
          failure = undefined
          throw f
        }
        if (done) return { value: undefined, done: true }
        await new Promise<void>((r) => {
          wake = r
        })
        wake = undefined
      }
    },
    async return(): Promise<IteratorResult<T>> {
      queue.length = 0
      failure = undefined
      finish()
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator]() {
      return it
    },
  }
  return it
}
