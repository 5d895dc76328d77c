"""Checks a DSSE envelope's signature with Python `cryptography`, independently of sigstore-lite:
ECDSA P-256 / SHA-256 over the PAE, with the public key of a PEM certificate.

usage: python verify_envelope.py ENVELOPE_JSON CERT_PEM
exit 0 if the signature verifies, 1 with one line on stderr otherwise.
"""
import base64
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

envelope_path, cert_path = sys.argv[1:3]
env = json.load(open(envelope_path, "rb"))
payload = base64.b64decode(env["payload"])
ptype = env["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)
cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
try:
    [sig] = env["signatures"]
    cert.public_key().verify(base64.b64decode(sig["sig"]), pae, ec.ECDSA(hashes.SHA256()))
except Exception as e:
    print(f"cryptography: {type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
