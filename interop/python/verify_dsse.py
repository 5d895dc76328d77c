"""Verifies a Sigstore DSSE bundle with real sigstore-python (4.5.1), independently of
sigstore-lite: `Verifier.verify_dsse`, since cosign's attestations are in-toto Statement v0.1,
which sigstore-python's statement model refuses.

usage: python verify_dsse.py TRUSTED_ROOT BUNDLE IDENTITY ISSUER
prints the payload type and then the payload; exit 1 with one line on stderr if it does not verify.
"""
import sys

from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity

root, bundle_path, identity, issuer = sys.argv[1:5]
try:
    verifier = Verifier(trusted_root=TrustedRoot.from_file(root))
    with open(bundle_path, "rb") as f:
        bundle = Bundle.from_json(f.read())
    kind, payload = verifier.verify_dsse(bundle, Identity(identity=identity, issuer=issuer))
except Exception as e:  # one line, whatever failed
    print(f"sigstore-python: {type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
print(kind)
sys.stdout.buffer.write(payload)
