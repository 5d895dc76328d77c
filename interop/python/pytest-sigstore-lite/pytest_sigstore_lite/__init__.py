"""A pytest fixture that starts a throwaway sigstore-lite stack.

``sigstore_stack`` runs ``sigstore-lite up --ephemeral --ready-file FILE --exit-with-parent``
(the binary from ``$SIGSTORE_LITE_BIN``, else ``sigstore-lite`` on ``PATH``), waits for the
ready file, and yields its values (setup-sigstore-env's names: ``oidc-url``, ``fulcio-url``,
``rekor-url``, ``rekor-v2-url``, ``tsa-url``, ``oidc-token`` (a file), ``trusted-root``,
``signing-config``, ``trust-config``, ``pid``...). The stack is stopped (SIGTERM) at the end of
the session; it removes its own data directory.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

#: How long the stack may take to be ready.
READY_TIMEOUT = 60.0


def _binary():
    explicit = os.environ.get("SIGSTORE_LITE_BIN")
    if explicit:
        return explicit
    found = shutil.which("sigstore-lite")
    if not found:
        raise RuntimeError(
            "sigstore-lite is not on PATH: install it (cargo install --path sigstore-lite) "
            "or set SIGSTORE_LITE_BIN"
        )
    return found


@pytest.fixture(scope="session")
def sigstore_stack():
    """The values of a running ephemeral stack (a dict); stopped after the session."""
    work = tempfile.mkdtemp(prefix="pytest-sigstore-lite-")
    ready = os.path.join(work, "ready.json")
    proc = subprocess.Popen(
        [_binary(), "up", "--ephemeral", "--exit-with-parent", "--ready-file", ready],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not os.path.exists(ready):
            if proc.poll() is not None:
                raise RuntimeError(
                    "sigstore-lite up stopped: " + proc.stderr.read().decode(errors="replace")
                )
            if time.monotonic() > deadline:
                raise RuntimeError("sigstore-lite up was not ready in time")
            time.sleep(0.02)
        with open(ready) as f:
            values = json.load(f)
        with open(values["oidc-token"]) as f:
            values["token"] = f.read().strip()
        yield values
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)
