#!/usr/bin/env python3
"""Reproduce docs/ingest-protocol.md's vectors with profichain_client.py, byte for byte.

Usage: test_vectors.py path/to/ingest-protocol.json — prints one JSON line {"checked": n, "failed": [...]}
and exits non-zero if any value differs (run by packages/client/test/python.test.ts).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profichain_client as pc  # noqa: E402


def main() -> int:
    doc = json.load(open(sys.argv[1]))
    I, V, T, F = doc["inputs"], doc["vectors"], doc["tier2"], doc["frames"]
    seed = bytes.fromhex(I["deviceSeed"])
    challenge = bytes.fromhex(I["challenge"])
    fp = bytes.fromhex(I["certFingerprint"])
    net = I["network"]
    pub = pc.public_key(seed)
    got = {}
    got["vectors.devicePublicKey"] = pub.hex()
    msg = pc.hello_message(challenge, fp, net)
    got["vectors.helloMessage"] = msg.hex()
    sig = pc.sign(seed, msg)
    got["vectors.helloSignature"] = sig.hex()
    t0 = I["tx0"]
    tx0 = pc.create_transaction(seed, net, t0["seq"], t0["payload"].encode(), t0["metadata"], t0["timestamp"])
    got["vectors.tx0.transaction"] = tx0.encode().hex()
    got["vectors.tx0.txId"] = tx0.tx_id().hex()
    t = I["tier2"]
    payload, meta, k = pc.seal_tier2(bytes.fromhex(t["dataKey"]), pub, t["epoch"], t["seq"], t["plaintext"].encode(), bytes.fromhex(t["nonce"]))
    got["tier2.recordKey"] = k.hex()
    got["tier2.encKey"] = pc.tier2_enc_key(k).hex()
    got["tier2.commitment"] = pc.tier2_commitment(k).hex()
    got["tier2.aad"] = pc.tier2_aad(pub, t["epoch"], t["seq"]).hex()
    got["tier2.payload"] = payload.hex()
    got["tier2.metadata"] = meta
    tx1 = pc.create_transaction(seed, net, t["seq"], payload, {**t["metadata"], **meta}, t["timestamp"])
    got["vectors.tx1.transaction"] = tx1.encode().hex()
    got["vectors.tx1.txId"] = tx1.tx_id().hex()
    if pc.open_tier2(k, tx1) != t["plaintext"].encode():
        got["tier2.open"] = "failed"
    ids = [tx0.tx_id(), tx1.tx_id()]
    # Frames the client sends: encoded here.
    got["frames.hello"] = pc.encode_hello(pub, sig).hex()
    got["frames.submit"] = pc.encode_submit(I["batchId"], [tx0, tx1]).hex()
    got["frames.receipt-ack"] = pc.encode_receipt_ack([ids[0]]).hex()
    # Frames the server sends: encoded with the generic encoder and decoded back to the inputs.
    lim = I["limits"]
    got["frames.server-hello"] = pc.frame([1, 0, challenge, net, lim]).hex()
    got["frames.welcome"] = pc.frame([1, 2, I["welcome"]]).hex()
    status = {"accepted": 0, "duplicate": 1, "rejected": 2}
    got["frames.ack"] = pc.frame([1, 4, I["batchId"], [[ids[i], status[a["status"]], a["code"]] for i, a in enumerate(I["ack"])]]).hex()
    r = I["receipt"]
    got["frames.receipt"] = pc.frame([1, 5, ids[0], r["height"], bytes.fromhex(r["blockHash"]), r["chainpoint"]]).hex()
    got["frames.error"] = pc.frame([1, 6, I["error"]["code"], I["error"]["message"]]).hex()
    decoded = {}
    for name in ("server-hello", "welcome", "ack", "receipt", "error"):
        d = pc.decode_frame(bytes.fromhex(F[name])[4:])
        decoded[name] = d
    checks = {
        "decode.server-hello": decoded["server-hello"]["challenge"] == challenge and decoded["server-hello"]["network"] == net and decoded["server-hello"]["limits"] == lim,
        "decode.welcome": {k2: decoded["welcome"][k2] for k2 in ("deviceId", "registered", "nextSeq")} == I["welcome"],
        "decode.ack": [(e["txId"], e["status"], e["code"]) for e in decoded["ack"]["results"]] == [(ids[i], a["status"], a["code"]) for i, a in enumerate(I["ack"])],
        "decode.receipt": decoded["receipt"]["txId"] == ids[0] and decoded["receipt"]["height"] == r["height"] and decoded["receipt"]["chainpoint"] == r["chainpoint"],
        "decode.error": decoded["error"]["code"] == I["error"]["code"] and decoded["error"]["message"] == I["error"]["message"],
    }
    want = {**{f"vectors.{k2}": v for k2, v in V.items()}, **{f"tier2.{k2}": v for k2, v in T.items()}, **{f"frames.{k2}": v for k2, v in F.items()}}
    failed = [k2 for k2, v in want.items() if got.get(k2) != v] + [k2 for k2, ok in checks.items() if not ok] + [k2 for k2 in got if k2 not in want]
    # Malformed input: every mutation of a frame body is refused with ERR_PROTOCOL or decodes, never crashes.
    import random
    rnd = random.Random(14)
    for name in ("server-hello", "welcome", "ack", "receipt", "error"):
        body = bytearray(bytes.fromhex(F[name])[4:])
        for _ in range(300):
            m = bytearray(body)
            for _ in range(rnd.randint(1, 4)):
                op = rnd.randint(0, 2)
                if op == 0 and m:
                    m[rnd.randrange(len(m))] = rnd.randrange(256)
                elif op == 1 and m:
                    del m[rnd.randrange(len(m)):]
                else:
                    m.insert(rnd.randrange(len(m) + 1), rnd.randrange(256))
            try:
                pc.decode_frame(bytes(m))
            except pc.ProfichainError as err:
                if err.code != "ERR_PROTOCOL":
                    failed.append(f"fuzz.{name}: code {err.code}")
            except Exception as err:  # noqa: BLE001
                failed.append(f"fuzz.{name}: {type(err).__name__}: {err}")
                break
    print(json.dumps({"checked": len(want) + len(checks), "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
