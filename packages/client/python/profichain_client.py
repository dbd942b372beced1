"""Profichain ingest API client (protocol v1, docs/ingest-protocol.md) for Python 3 + `cryptography`.

One module, no other dependency. It speaks the same frames as @profichain/client: TLS 1.3 with the node's
certificate pinned by SHA-256 fingerprint (checked before anything is sent), an Ed25519-signed hello, batches
of device-signed transactions acknowledged per tx, receipts pushed by the node (checked against the record
before they are acknowledged), and optional tier-2 encryption (AES-256-GCM, per-record keys by HKDF-SHA256).

    from profichain_client import Client, load_seed
    with Client("node.example", 7443, fingerprint="ab12…", network="plant-1", seed=load_seed("device.seed")) as c:
        result = c.submit(b'{"t": 21.5}', {"content-type": "application/json"})
        print(result.tx_id, result.status)

Tested against the vectors in packages/core/test/fixtures/ingest-protocol.json (test_vectors.py).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PROTOCOL_VERSION = 1
ALPN = "profichain-ingest/1"
HELLO_CONTEXT = b"profichain-ingest/1 hello\n"
TX_FORMAT_VERSION = 1
TIER2_SCHEME = "aes-256-gcm-hkdf-sha256/1"
TIER2_LABEL = b"profichain-tier2/1"
FRAME = {"server-hello": 0, "hello": 1, "welcome": 2, "submit": 3, "ack": 4, "receipt": 5, "error": 6, "receipt-ack": 7}
FRAME_NAMES = {v: k for k, v in FRAME.items()}
ACK_STATUS = {0: "accepted", 1: "duplicate", 2: "rejected"}
RETRY_CODES = {"RATE_LIMITED", "INTERNAL"}
RETRY_SERVER_CODES = {"SHUTTING_DOWN", "TOO_MANY_CONNECTIONS", "IDLE_TIMEOUT", "HELLO_TIMEOUT", "INTERNAL"}
MAX_SAFE_INTEGER = 2**53 - 1


class ProfichainError(Exception):
    """An error with a stable `code` (same codes as the TypeScript client where they overlap)."""

    def __init__(self, code: str, message: str, **meta: Any):
        super().__init__(message)
        self.code = code
        self.meta = meta


# ---- deterministic CBOR (RFC 8949 §4.2.1 core deterministic encoding), the subset the protocol uses ----

def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    if n < 2**8:
        return bytes([major << 5 | 24, n])
    if n < 2**16:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    if n < 2**32:
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    return bytes([major << 5 | 27]) + struct.pack(">Q", n)


def cbor_encode(v: Any) -> bytes:
    """Encode None/bool/int/bytes/str/list/dict deterministically (shortest forms, map keys sorted by encoding)."""
    if v is None:
        return b"\xf6"
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, int):
        if abs(v) > MAX_SAFE_INTEGER:
            raise ProfichainError("ERR_INVALID_ARGUMENT", f"integer {v} is outside the safe range")
        return _head(0, v) if v >= 0 else _head(1, -1 - v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        return _head(2, len(b)) + b
    if isinstance(v, str):
        b = v.encode("utf-8")
        return _head(3, len(b)) + b
    if isinstance(v, (list, tuple)):
        return _head(4, len(v)) + b"".join(cbor_encode(x) for x in v)
    if isinstance(v, dict):
        items = sorted((cbor_encode(k), cbor_encode(x)) for k, x in v.items())
        return _head(5, len(items)) + b"".join(k + x for k, x in items)
    raise ProfichainError("ERR_INVALID_ARGUMENT", f"cannot encode {type(v).__name__} in CBOR")


def cbor_decode(data: bytes) -> Any:
    """Decode one canonical CBOR item (the subset above); anything else raises ProfichainError ERR_PROTOCOL."""

    def bad(msg: str) -> ProfichainError:
        return ProfichainError("ERR_PROTOCOL", f"malformed CBOR: {msg}")

    def item(i: int, depth: int) -> Tuple[Any, int]:
        if depth > 16:
            raise bad("nesting deeper than 16 levels")
        if i >= len(data):
            raise bad("truncated")
        ib = data[i]
        major, info = ib >> 5, ib & 31
        i += 1
        if major == 7:
            if info == 20:
                return False, i
            if info == 21:
                return True, i
            if info == 22:
                return None, i
            raise bad(f"simple/float value 0x{ib:02x} not allowed")
        if info < 24:
            n = info
        elif info in (24, 25, 26, 27):
            size = 1 << (info - 24)
            if i + size > len(data):
                raise bad("truncated")
            n = int.from_bytes(data[i:i + size], "big")
            i += size
        else:
            raise bad("indefinite or reserved length")
        if major == 0:
            if n > MAX_SAFE_INTEGER:
                raise bad("integer above 2^53-1")
            return n, i
        if major == 1:
            if n >= MAX_SAFE_INTEGER:
                raise bad("integer below -(2^53-1)")
            return -1 - n, i
        if major in (2, 3):
            if i + n > len(data):
                raise bad("truncated string")
            raw = data[i:i + n]
            if major == 2:
                return bytes(raw), i + n
            try:
                return raw.decode("utf-8"), i + n
            except UnicodeDecodeError:
                raise bad("invalid UTF-8") from None
        if major == 4:
            if n > len(data):
                raise bad("array longer than the input")
            out = []
            for _ in range(n):
                x, i = item(i, depth + 1)
                out.append(x)
            return out, i
        if major == 5:
            if n > len(data):
                raise bad("map longer than the input")
            m: Dict[Any, Any] = {}
            for _ in range(n):
                k, i = item(i, depth + 1)
                if not isinstance(k, str):
                    raise bad("map key is not a text string")
                x, i = item(i, depth + 1)
                if k in m:
                    raise bad("duplicate map key")
                m[k] = x
            return m, i
        raise bad(f"major type {major} (tags) not allowed")

    value, end = item(0, 0)
    if end != len(data):
        raise bad("trailing bytes")
    if cbor_encode(value) != bytes(data):
        raise bad("not in canonical (deterministic) form")
    return value


# ---- keys, transactions, hello ----

def load_seed(path: str) -> bytes:
    """A device key: a PKCS#8 PEM file (as `profichain device add` writes) or a file of 64 hex characters."""
    raw = open(path, "rb").read()
    if b"-----BEGIN" in raw:
        key = serialization.load_pem_private_key(raw, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ProfichainError("ERR_INVALID_ARGUMENT", f"{path} is not an Ed25519 key")
        return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return bytes.fromhex(raw.decode().strip())


def public_key(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(seed: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def verify(pub: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(signature, message)
        return True
    except Exception:  # noqa: BLE001 - any failure means "does not verify"
        return False


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass
class Transaction:
    """A device-signed record: body fields, signature and payload (docs/protocol.md §3)."""

    network: str
    origin: bytes
    seq: int
    timestamp: int
    payload: bytes
    metadata: Dict[str, str]
    signature: bytes = b""
    kind: str = "record"
    recordKey: Optional[bytes] = None

    def body(self) -> List[Any]:
        return [TX_FORMAT_VERSION, self.network, self.kind, self.origin, self.seq, self.timestamp, sha256(self.payload), len(self.payload), self.metadata]

    def cbor_value(self) -> List[Any]:
        return [[self.body(), self.signature], self.payload]

    def encode(self) -> bytes:
        return cbor_encode(self.cbor_value())

    def tx_id(self) -> bytes:
        return sha256(cbor_encode([self.body(), self.signature]))


def create_transaction(seed: bytes, network: str, seq: int, payload: bytes, metadata: Optional[Dict[str, str]] = None, timestamp: Optional[int] = None) -> Transaction:
    tx = Transaction(network=network, origin=public_key(seed), seq=seq, timestamp=int(time.time() * 1000) if timestamp is None else timestamp, payload=bytes(payload), metadata=dict(metadata or {}))
    tx.signature = sign(seed, cbor_encode(tx.body()))
    return tx


def hello_message(challenge: bytes, fingerprint: bytes, network: str) -> bytes:
    return HELLO_CONTEXT + challenge + fingerprint + network.encode("utf-8")


# ---- tier 2 ----

def _coords(origin: bytes, epoch: int, seq: int) -> bytes:
    return origin + struct.pack(">IQ", epoch, seq)


def derive_record_key(data_key: bytes, origin: bytes, epoch: int, seq: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=TIER2_LABEL, info=_coords(origin, epoch, seq)).derive(data_key)


def tier2_enc_key(record_key: bytes) -> bytes:
    return hmac.new(record_key, TIER2_LABEL + b" enc", hashlib.sha256).digest()


def tier2_commitment(record_key: bytes) -> bytes:
    return hmac.new(record_key, TIER2_LABEL + b" commit", hashlib.sha256).digest()


def tier2_aad(origin: bytes, epoch: int, seq: int) -> bytes:
    return TIER2_LABEL + _coords(origin, epoch, seq)


def seal_tier2(data_key: bytes, origin: bytes, epoch: int, seq: int, plaintext: bytes, nonce: Optional[bytes] = None) -> Tuple[bytes, Dict[str, str], bytes]:
    """Encrypt for the record (origin, seq): returns (payload, tier-2 metadata, record key K)."""
    k = derive_record_key(data_key, origin, epoch, seq)
    n = os.urandom(12) if nonce is None else nonce
    ct = AESGCM(tier2_enc_key(k)).encrypt(n, plaintext, tier2_aad(origin, epoch, seq))
    meta = {"tier2": TIER2_SCHEME, "tier2.epoch": str(epoch), "tier2.commit": tier2_commitment(k).hex()}
    return n + ct, meta, k


def open_tier2(record_key: bytes, tx: Transaction) -> bytes:
    """Check the key against the signed commitment, then decrypt (ERR_TIER2_COMMITMENT / ERR_TIER2_DECRYPT)."""
    if tx.metadata.get("tier2") != TIER2_SCHEME:
        raise ProfichainError("ERR_TIER2_HEADER", "the record is not tier-2 encrypted with " + TIER2_SCHEME)
    epoch = int(tx.metadata["tier2.epoch"])
    if not hmac.compare_digest(tier2_commitment(record_key).hex(), tx.metadata.get("tier2.commit", "")):
        raise ProfichainError("ERR_TIER2_COMMITMENT", "the key does not match the record's key commitment")
    try:
        return AESGCM(tier2_enc_key(record_key)).decrypt(tx.payload[:12], tx.payload[12:], tier2_aad(tx.origin, epoch, tx.seq))
    except Exception:  # noqa: BLE001 - InvalidTag
        raise ProfichainError("ERR_TIER2_DECRYPT", "AES-GCM authentication failed: the ciphertext was changed") from None


# ---- frames ----

def frame(value: List[Any]) -> bytes:
    body = cbor_encode(value)
    return struct.pack(">I", len(body)) + body


def encode_hello(pub: bytes, signature: bytes) -> bytes:
    return frame([PROTOCOL_VERSION, FRAME["hello"], pub, signature])


def encode_submit(batch_id: int, txs: List[Transaction]) -> bytes:
    return frame([PROTOCOL_VERSION, FRAME["submit"], batch_id, [t.cbor_value() for t in txs]])


def encode_receipt_ack(tx_ids: List[bytes]) -> bytes:
    return frame([PROTOCOL_VERSION, FRAME["receipt-ack"], tx_ids])


def decode_frame(body: bytes) -> Dict[str, Any]:
    """Decode a server frame body into a dict with a "type"; ProfichainError ERR_PROTOCOL when malformed."""
    v = cbor_decode(body)

    def bad(msg: str) -> ProfichainError:
        return ProfichainError("ERR_PROTOCOL", f"bad frame: {msg}")

    if not isinstance(v, list) or len(v) < 2 or v[0] != PROTOCOL_VERSION:
        raise bad("not [1, type, ...]")

    def b32(x: Any, what: str) -> bytes:
        if not isinstance(x, bytes) or len(x) != 32:
            raise bad(f"{what}: expected 32 bytes")
        return x

    def uint(x: Any, what: str) -> int:
        if not isinstance(x, int) or isinstance(x, bool) or x < 0:
            raise bad(f"{what}: expected an unsigned integer")
        return x

    def text(x: Any, what: str) -> str:
        if not isinstance(x, str):
            raise bad(f"{what}: expected text")
        return x

    t = v[1]
    if t == 0 and len(v) == 5 and isinstance(v[4], dict) and set(v[4]) == {"maxFrameBytes", "maxBatch", "maxInFlight"}:
        return {"type": "server-hello", "challenge": b32(v[2], "challenge"), "network": text(v[3], "network"), "limits": {k: uint(x, k) for k, x in v[4].items()}}
    if t == 2 and len(v) == 3 and isinstance(v[2], dict) and set(v[2]) == {"deviceId", "registered", "nextSeq"} and isinstance(v[2]["registered"], bool):
        return {"type": "welcome", "deviceId": text(v[2]["deviceId"], "deviceId"), "registered": v[2]["registered"], "nextSeq": uint(v[2]["nextSeq"], "nextSeq")}
    if t == 4 and len(v) == 4 and isinstance(v[3], list):
        results = []
        for e in v[3]:
            if not isinstance(e, list) or len(e) != 3 or e[1] not in ACK_STATUS:
                raise bad("ack entry")
            results.append({"txId": b32(e[0], "txId"), "status": ACK_STATUS[e[1]], "code": text(e[2], "code")})
        return {"type": "ack", "batchId": uint(v[2], "batchId"), "results": results}
    if t == 5 and len(v) == 6:
        return {"type": "receipt", "txId": b32(v[2], "txId"), "height": uint(v[3], "height"), "blockHash": b32(v[4], "blockHash"), "chainpoint": text(v[5], "chainpoint")}
    if t == 6 and len(v) == 4:
        return {"type": "error", "code": text(v[2], "code"), "message": text(v[3], "message")}
    raise bad(f"unexpected frame type {t!r} or shape")


def check_receipt(chainpoint: str, tx: Transaction, height: int, block_hash: bytes) -> Dict[str, Any]:
    """Evaluate a pushed Chainpoint v5 receipt: it must start at the payload hash, pass through this tx's
    txId, and end at `block_hash` (a `cal` anchor naming `height`). Returns the parsed proof."""
    proof = json.loads(chainpoint)
    if proof.get("@context") != "https://w3id.org/chainpoint/v5" or proof.get("type") != "Chainpoint":
        raise ProfichainError("ERR_RECEIPT_INVALID", "not a Chainpoint v5 proof")
    if proof.get("hash") != sha256(tx.payload).hex():
        raise ProfichainError("ERR_RECEIPT_INVALID", "the receipt's hash is not the payload's")
    state = bytes.fromhex(proof["hash"])
    hashed: List[bytes] = []
    anchors: List[Tuple[Dict[str, Any], bytes]] = []
    branches = proof.get("branches")
    if not isinstance(branches, list) or len(branches) != 1:
        raise ProfichainError("ERR_RECEIPT_INVALID", "expected one branch")
    for op in branches[0].get("ops", []):
        if "l" in op:
            state = bytes.fromhex(op["l"]) + state
        elif "r" in op:
            state = state + bytes.fromhex(op["r"])
        elif op.get("op") == "sha-256":
            state = sha256(state)
            hashed.append(state)
        elif "anchors" in op:
            anchors.extend((a, state) for a in op["anchors"])
        else:
            raise ProfichainError("ERR_RECEIPT_INVALID", f"unsupported op {op!r}")
    if not hashed or hashed[0] != tx.tx_id():
        raise ProfichainError("ERR_RECEIPT_INVALID", "the receipt does not prove this tx")
    if len(anchors) != 1 or anchors[0][1] != block_hash or anchors[0][0].get("anchor_id") != str(height):
        raise ProfichainError("ERR_RECEIPT_INVALID", "the receipt does not end at the named block")
    return proof


# ---- the client ----

@dataclass
class SubmitResult:
    tx_id: str
    seq: int
    status: str  # accepted | duplicate


@dataclass
class Receipt:
    tx_id: str
    height: int
    block_hash: str
    chainpoint: Dict[str, Any]


@dataclass
class Client:
    """A blocking client: connect (pinned), hello, submit batches, collect receipts.

    Records are kept until acknowledged and re-sent with their original signature and seq after a
    reconnect (the node answers `duplicate`), so a dropped connection loses nothing while the process runs.
    """

    host: str
    port: int
    fingerprint: str
    network: str
    seed: bytes
    data_key: Optional[bytes] = None
    epoch: int = 0
    timeout: float = 15.0
    on_receipt: Optional[Callable[[Receipt], None]] = None
    next_seq: Optional[int] = None
    welcome: Optional[Dict[str, Any]] = None
    receipts: Dict[str, Receipt] = field(default_factory=dict)
    _sock: Optional[ssl.SSLSocket] = None
    _buf: bytes = b""
    _limits: Dict[str, int] = field(default_factory=dict)
    _batch_id: int = 0
    _sent: Dict[str, Transaction] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._fp = bytes.fromhex(self.fingerprint.replace(":", "").lower())
        if len(self._fp) != 32:
            raise ProfichainError("ERR_INVALID_ARGUMENT", "fingerprint must be 64 hex characters (profichain status prints it)")
        self.public_key = public_key(self.seed)

    def __enter__(self) -> "Client":
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def connect(self) -> Dict[str, Any]:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # trust comes from the pinned fingerprint, checked below
        ctx.set_alpn_protocols([ALPN])
        raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock = ctx.wrap_socket(raw, server_hostname=None)
        der = sock.getpeercert(binary_form=True) or b""
        actual = sha256(der)
        if not hmac.compare_digest(actual, self._fp):
            sock.close()
            raise ProfichainError("ERR_FINGERPRINT_MISMATCH", f"the server presented certificate {actual.hex()}, not the pinned {self._fp.hex()}; nothing was sent", expected=self._fp.hex(), actual=actual.hex())
        self._sock, self._buf = sock, b""
        hello = self._read()
        if hello["type"] != "server-hello":
            raise ProfichainError("ERR_PROTOCOL", f"expected server-hello, got {hello['type']}")
        if hello["network"] != self.network:
            raise ProfichainError("ERR_PROTOCOL", f"the server is on network {hello['network']!r}, this client on {self.network!r}")
        self._limits = hello["limits"]
        sock.sendall(encode_hello(self.public_key, sign(self.seed, hello_message(hello["challenge"], self._fp, self.network))))
        welcome = self._read()
        if welcome["type"] != "welcome":
            raise ProfichainError("ERR_PROTOCOL", f"expected welcome, got {welcome['type']}")
        self.welcome = welcome
        if self.next_seq is None or welcome["nextSeq"] > self.next_seq:
            self.next_seq = welcome["nextSeq"]
        return welcome

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def make_record(self, payload: bytes, metadata: Optional[Dict[str, str]] = None) -> Transaction:
        """Sign (tier 2: encrypt first) the next record with the next seq."""
        if self.next_seq is None:
            raise ProfichainError("ERR_INVALID_ARGUMENT", "connect() first (or set next_seq) so the seq is known")
        seq = self.next_seq
        self.next_seq += 1
        meta = dict(metadata or {})
        key = None
        if self.data_key is not None:
            payload, tmeta, key = seal_tier2(self.data_key, self.public_key, self.epoch, seq, payload)
            meta.update(tmeta)
        tx = create_transaction(self.seed, self.network, seq, payload, meta)
        tx.recordKey = key
        return tx

    def submit(self, payload: bytes, metadata: Optional[Dict[str, str]] = None) -> SubmitResult:
        return self.submit_many([(payload, metadata)])[0]

    def submit_many(self, records: List[Tuple[bytes, Optional[Dict[str, str]]]]) -> List[SubmitResult]:
        """Sign and send records in batches of the server's maxBatch; returns one result per record."""
        txs = [self.make_record(p, m) for p, m in records]
        return self.send(txs)

    def send(self, txs: List[Transaction], retries: int = 20) -> List[SubmitResult]:
        """Send signed txs until each is acknowledged (reconnecting and re-sending on a dropped connection)."""
        out: Dict[bytes, SubmitResult] = {}
        todo = list(txs)
        attempt = 0
        while todo:
            try:
                if self._sock is None:
                    self.connect()
                retry_later: List[Transaction] = []
                for batch in self._batches(todo):
                    for t in batch:
                        self._sent[t.tx_id().hex()] = t
                    self._batch_id += 1
                    self._sock.sendall(encode_submit(self._batch_id, batch))
                    ack = self._read_until("ack")
                    if ack["batchId"] != self._batch_id or len(ack["results"]) != len(batch):
                        raise ProfichainError("ERR_PROTOCOL", "ack does not match the batch")
                    for t, r in zip(batch, ack["results"]):
                        if r["txId"] != t.tx_id():
                            raise ProfichainError("ERR_PROTOCOL", "ack names another tx")
                        if r["status"] == "rejected" and r["code"] in RETRY_CODES:
                            retry_later.append(t)
                        elif r["status"] == "rejected":
                            raise ProfichainError("ERR_REJECTED", f"the node refused record seq {t.seq}: {r['code']}", code=r["code"], txId=t.tx_id().hex(), seq=t.seq)
                        else:
                            out[t.tx_id()] = SubmitResult(t.tx_id().hex(), t.seq, r["status"])
                todo = retry_later
                if todo:
                    time.sleep(0.2)
            except (OSError, ProfichainError) as err:
                if isinstance(err, ProfichainError) and not (err.code == "ERR_PROTOCOL" or err.meta.get("code") in RETRY_SERVER_CODES):
                    raise
                self.close()
                attempt += 1
                if attempt > retries:
                    raise
                time.sleep(min(5.0, 0.1 * 2**attempt))
                todo = [t for t in todo if t.tx_id() not in out]
        return [out[t.tx_id()] for t in txs]

    def wait_receipts(self, tx_ids: List[str], timeout: float = 30.0) -> List[Receipt]:
        """Block until receipts for all `tx_ids` arrived (each checked and acknowledged)."""
        deadline = time.monotonic() + timeout
        while any(t not in self.receipts for t in tx_ids):
            if time.monotonic() > deadline:
                missing = [t for t in tx_ids if t not in self.receipts]
                raise ProfichainError("ERR_TIMEOUT", f"{len(missing)} receipts did not arrive within {timeout} s")
            if self._sock is None:
                self.connect()
            self._sock.settimeout(max(0.1, min(1.0, deadline - time.monotonic())))
            try:
                self._read_until("never")
            except socket.timeout:
                pass
            finally:
                if self._sock is not None:
                    self._sock.settimeout(self.timeout)
        return [self.receipts[t] for t in tx_ids]

    # -- internals --

    def _batches(self, txs: List[Transaction]) -> List[List[Transaction]]:
        """Split into submits of at most maxBatch txs and maxFrameBytes bytes (a lone tx above it: ERR_REJECTED)."""
        max_n = max(1, self._limits.get("maxBatch", 64))
        max_bytes = self._limits.get("maxFrameBytes", 4 * 1024 * 1024) - 32
        out: List[List[Transaction]] = []
        cur: List[Transaction] = []
        size = 0
        for t in txs:
            n = len(t.encode())
            if n > max_bytes:
                raise ProfichainError("ERR_REJECTED", f"record seq {t.seq} is {n} bytes, above the node's frame limit", code="FRAME_TOO_LARGE", txId=t.tx_id().hex(), seq=t.seq)
            if cur and (len(cur) >= max_n or size + n > max_bytes):
                out.append(cur)
                cur, size = [], 0
            cur.append(t)
            size += n
        if cur:
            out.append(cur)
        return out

    def _read_until(self, wanted: str) -> Dict[str, Any]:
        while True:
            f = self._read()
            if f["type"] == wanted:
                return f
            if f["type"] == "receipt":
                self._on_receipt(f)
            elif f["type"] == "error":
                self.close()
                raise ProfichainError("ERR_SERVER", f"the node closed the connection: {f['code']}: {f['message']}", code=f["code"])
            else:
                raise ProfichainError("ERR_PROTOCOL", f"unexpected {f['type']} frame")

    def _on_receipt(self, f: Dict[str, Any]) -> None:
        tid = f["txId"].hex()
        tx = self._sent.get(tid)
        if tx is None:
            return  # not ours in this session: leave it owed (the node re-pushes it to a client that knows it)
        try:
            proof = check_receipt(f["chainpoint"], tx, f["height"], f["blockHash"])
        except (ProfichainError, ValueError, KeyError, TypeError):
            return  # invalid: neither stored nor acknowledged
        r = Receipt(tid, f["height"], f["blockHash"].hex(), proof)
        self.receipts[tid] = r
        if self.on_receipt:
            self.on_receipt(r)
        assert self._sock is not None
        self._sock.sendall(encode_receipt_ack([f["txId"]]))

    def _read(self) -> Dict[str, Any]:
        assert self._sock is not None
        max_frame = max(self._limits.get("maxFrameBytes", 0), 2 * 1024 * 1024)
        while True:
            if len(self._buf) >= 4:
                n = struct.unpack(">I", self._buf[:4])[0]
                if n == 0 or n > max_frame:
                    raise ProfichainError("ERR_PROTOCOL", f"frame length {n} out of range")
                if len(self._buf) >= 4 + n:
                    body, self._buf = self._buf[4:4 + n], self._buf[4 + n:]
                    return decode_frame(body)
            chunk = self._sock.recv(65536)
            if not chunk:
                self.close()
                raise ProfichainError("ERR_PROTOCOL", "the server closed the connection")
            self._buf += chunk
