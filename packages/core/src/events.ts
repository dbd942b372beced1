import type { EventEmitter } from 'node:events'

type Keys<E> = keyof E & string

/**
 * An EventEmitter whose events are one interface `E` (event name → payload), Lodestar's StrictEventEmitter
 * pattern: a listener's payload and an emit's argument are checked at compile time, and `E` is the list of
 * events to read. Use it as `class X extends (EventEmitter as TypedEmitterClass<XEvents>)`.
 */
export interface TypedEventEmitter<E extends object>
  extends Omit<
    EventEmitter,
    'on' | 'once' | 'off' | 'addListener' | 'removeListener' | 'prependListener' | 'prependOnceListener' | 'emit'
  > {
  on<K extends Keys<E>>(event: K, listener: (payload: E[K]) => void): this
  once<K extends Keys<E>>(event: K, listener: (payload: E[K]) => void): this
  off<K extends Keys<E>>(event: K, listener: (payload: E[K]) => void): this
  addListener<K extends Keys<E>>(event: K, listener: (payload: E[K]) => void): this
  removeListener<K extends Keys<E>>(event: K, listener: (payload: E[K]) => void): this
  prependListener<K extends Keys<E>>(event: K, listener: (payload: E[K]) => void): this
  prependOnceListener<K extends Keys<E>>(event: K, listener: (payload: E[K]) => void): this
  emit<K extends Keys<E>>(event: K, payload: E[K]): boolean
}

/** The EventEmitter constructor seen as one of a TypedEventEmitter<E> (a cast, no runtime cost). */
export type TypedEmitterClass<E extends object> = new () => TypedEventEmitter<E>
