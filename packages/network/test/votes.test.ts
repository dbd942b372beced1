import { encodeCbor, encodeVote, signVote, toHex } from '@profichain/core'
import { afterEach, describe, expect, it } from 'vitest'
import { connectedTo, makeKeys, membersOf, NETWORK, nodeOf, startNode, type TestNode, waitFor } from './helpers.js'

const running: TestNode[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.net.stop()))
})

describe('vote topic (/profichain/<network>/vote/1)', () => {
  it('delivers a validator vote; rejects forged, non-validator, foreign and undecodable votes', async () => {
    const keys = makeKeys(3)
    const [va, vb, member] = keys
    const members = membersOf(keys)
    const validators = [toHex(va.publicKey), toHex(vb.publicKey)]
    const a = await startNode(va, { members, validators })
    running.push(a)
    const b = await startNode(vb, { members, validators, bootstrap: a.net.multiaddrs() })
    running.push(b)
    expect(a.net.voteTopic).toBe(`/profichain/${NETWORK}/vote/1`)
    await waitFor(() => connectedTo(a, b) && connectedTo(b, a), 'A and B connected')
    const hash = new Uint8Array(32).fill(5)
    const good = signVote(NETWORK, 4, hash, va)
    expect((await a.net.publishVote(good)).published).toBe(true)
    await waitFor(() => b.votes.length === 1, 'B receives the vote')
    expect(b.votes[0].from).toBe(a.net.peerId)
    expect(encodeVote(b.votes[0].vote)).toEqual(encodeVote(good))

    // Raw publishes (bypassing nothing on the receiver): each must be rejected by B's validator.
    const ps = nodeOf(a.net).services.pubsub as unknown as { publish(t: string, d: Uint8Array): Promise<unknown> }
    const forged = { ...signVote(NETWORK, 5, hash, va), blockHash: new Uint8Array(32).fill(6) }
    const stranger = signVote(NETWORK, 5, hash, member)
    const foreign = signVote('other-net', 5, hash, va)
    for (const v of [forged, stranger, foreign]) await ps.publish(a.net.voteTopic, encodeVote(v))
    await ps.publish(a.net.voteTopic, encodeCbor([1, 'x']))
    await waitFor(() => b.net.stats().gossipRejected === 4, 'B rejects the four bad votes')
    expect(b.net.stats().rejected.invalid).toBe(3)
    expect(b.net.stats().rejected.decode).toBe(1)
    expect(b.votes).toHaveLength(1)
  })
})
