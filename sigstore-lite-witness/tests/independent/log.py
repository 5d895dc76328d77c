"""An independent transparency log for the witness tests, sharing no code with sigstore-lite:
RFC 6962 hashing and consistency proofs (section 2.1.2's SUBPROOF), C2SP signed-note
checkpoints with an Ed25519 key (`cryptography`), and a checker of C2SP cosignature/v1 lines.

  log.py make ORIGIN        -> JSON: the log's vkey, checkpoints at sizes 4 and 9 (and a fork
                               of size 9), the consistency proof 4 -> 9, a checkpoint signed by
                               another key
  log.py verify VKEY NOTE   -> exit 0 when NOTE (a file) carries a valid cosignature by VKEY
"""
import base64
import hashlib
import json
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def leaf(d):
    return hashlib.sha256(b"\x00" + d).digest()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d):
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return leaf(d[0])
    k = split(len(d))
    return node(mth(d[:k]), mth(d[k:]))


def subproof(m, d, b):
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = split(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def raw_pub(key):
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_hash(name, kind, pub):
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + pub).digest()[:4]


def checkpoint(key, origin, entries):
    root = base64.b64encode(mth(entries)).decode()
    text = f"{origin}\n{len(entries)}\n{root}\n"
    sig = key_hash(origin, 1, raw_pub(key)) + key.sign(text.encode())
    line = "\u2014 " + origin + " " + base64.b64encode(sig).decode() + "\n"
    return text + "\n" + line


def make(origin):
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    entries = [f"entry {i}".encode() for i in range(9)]
    forked = entries[:4] + [f"forked {i}".encode() for i in range(5)]
    pub = raw_pub(key)
    typed = base64.b64encode(bytes([1]) + pub).decode()
    vkey = f"{origin}+{key_hash(origin, 1, pub).hex()}+{typed}"
    print(json.dumps({
        "vkey": vkey,
        "cp4": checkpoint(key, origin, entries[:4]),
        "cp9": checkpoint(key, origin, entries),
        "cp9_forked": checkpoint(key, origin, forked),
        "proof_4_9": [base64.b64encode(h).decode() for h in subproof(4, entries, True)],
        "proof_4_9_forked": [base64.b64encode(h).decode() for h in subproof(4, forked, True)],
        "cp9_other_key": checkpoint(other, origin, entries),
    }))


def verify(vkey, note_file):
    name, khash, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    assert raw[0] == 4, "not a cosigner key"
    pub = Ed25519PublicKey.from_public_bytes(raw[1:])
    note = open(note_file, encoding="utf-8").read()
    text, sigs = note.split("\n\n", 1)
    text += "\n"
    for line in sigs.splitlines():
        _, signer, sig = line.split(" ")
        sig = base64.b64decode(sig)
        if signer != name or sig[:4].hex() != khash:
            continue
        (t,) = struct.unpack(">Q", sig[4:12])
        pub.verify(sig[12:], f"cosignature/v1\ntime {t}\n".encode() + text.encode())
        print(t)
        return
    sys.exit("no cosignature by " + name)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        verify(sys.argv[2], sys.argv[3])
