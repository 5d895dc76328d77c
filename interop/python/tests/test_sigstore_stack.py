"""Uses the pytest-sigstore-lite fixture as a test suite would: sigstore-python signs and
verifies a file against the throwaway stack, by identity."""

import os
import subprocess
import sys

SIGSTORE = os.path.join(os.path.dirname(sys.executable), "sigstore")


def test_sign_and_verify_with_sigstore_python(sigstore_stack, tmp_path):
    artifact = tmp_path / "artifact.txt"
    artifact.write_text("signed in a pytest fixture\n")
    bundle = tmp_path / "artifact.sigstore.json"
    tc = sigstore_stack["trust-config"]
    subprocess.run(
        [SIGSTORE, "--trust-config", tc, "sign", "--identity-token", sigstore_stack["token"],
         "--bundle", str(bundle), str(artifact)],
        check=True,
    )
    ok = subprocess.run(
        [SIGSTORE, "--trust-config", tc, "verify", "identity", "--bundle", str(bundle),
         "--cert-identity", "you@example.com", "--cert-oidc-issuer", sigstore_stack["oidc-url"],
         str(artifact)],
    )
    assert ok.returncode == 0
    wrong = subprocess.run(
        [SIGSTORE, "--trust-config", tc, "verify", "identity", "--bundle", str(bundle),
         "--cert-identity", "mallory@example.com", "--cert-oidc-issuer", sigstore_stack["oidc-url"],
         str(artifact)],
        capture_output=True,
    )
    assert wrong.returncode != 0


def test_the_values_are_setup_sigstore_envs(sigstore_stack):
    for key in ["oidc-url", "issuer-url", "fulcio-url", "rekor-url", "rekor-v2-url", "tsa-url",
                "oidc-token", "trusted-root", "signing-config", "trust-config", "pid"]:
        assert sigstore_stack.get(key), key
    assert os.path.exists(sigstore_stack["trusted-root"])
