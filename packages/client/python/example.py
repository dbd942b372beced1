#!/usr/bin/env python3
"""Example device: send N readings to a Profichain node over the ingest API and wait for their receipts.

  python3 example.py --host 127.0.0.1 --port 7443 --fingerprint <64 hex> --network plant-1 \
      --key device.key [--count 10] [--data-key <64 hex> --epoch 0] [--receipts]

--key is the device key (PKCS#8 PEM as `profichain device add` writes, or 64 hex of the Ed25519 seed).
Prints one JSON line per record ({"txId", "seq", "status"}) and, with --receipts, one per receipt.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from profichain_client import Client, ProfichainError, load_seed  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7443)
    ap.add_argument("--fingerprint", required=True)
    ap.add_argument("--network", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--batch", type=int, default=10, help="records per submit")
    ap.add_argument("--data-key", help="tier 2: 32-byte data key as hex")
    ap.add_argument("--epoch", type=int, default=0)
    ap.add_argument("--receipts", action="store_true", help="wait for every record's receipt")
    ap.add_argument("--receipt-timeout", type=float, default=60.0)
    a = ap.parse_args()
    client = Client(a.host, a.port, a.fingerprint, a.network, load_seed(a.key), data_key=bytes.fromhex(a.data_key) if a.data_key else None, epoch=a.epoch)
    try:
        with client:
            ids = []
            for start in range(0, a.count, a.batch):
                recs = [(json.dumps({"reading": i, "t": time.time()}).encode(), {"content-type": "application/json"}) for i in range(start, min(a.count, start + a.batch))]
                for r in client.submit_many(recs):
                    ids.append(r.tx_id)
                    print(json.dumps({"txId": r.tx_id, "seq": r.seq, "status": r.status}), flush=True)
            if a.receipts:
                for r in client.wait_receipts(ids, a.receipt_timeout):
                    print(json.dumps({"receipt": r.tx_id, "height": r.height, "blockHash": r.block_hash}), flush=True)
    except ProfichainError as err:
        print(json.dumps({"error": err.code, "message": str(err), **{k: str(v) for k, v in err.meta.items()}}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
