#!/usr/bin/env python3
"""Encode values with profichain_client's deterministic CBOR (cross-checked against core by python.test.ts).

Reads a JSON list from stdin (byte strings as {"$b": "<hex>"}), prints a JSON list of
[encoding hex, decode(encoding) == value] per item.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profichain_client as pc  # noqa: E402


def revive(v):
    if isinstance(v, dict):
        if set(v) == {"$b"}:
            return bytes.fromhex(v["$b"])
        return {k: revive(x) for k, x in v.items()}
    if isinstance(v, list):
        return [revive(x) for x in v]
    return v


out = []
for item in json.load(sys.stdin):
    value = revive(item)
    enc = pc.cbor_encode(value)
    out.append([enc.hex(), pc.cbor_decode(enc) == value])
print(json.dumps(out))
