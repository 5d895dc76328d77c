#!/usr/bin/env python3
"""python-tuf's ngclient (the TUF reference client) against a repository.

    tuf_client.py --root ROOT.json --cache DIR (--url URL | --serve-dir DIR | --archive FILE.tar.gz)
                  [--target NAME ...]

Refreshes the metadata from ROOT.json on first use (later from the root this client reached,
kept in DIR/metadata), then
downloads each target into DIR/targets. --serve-dir serves a directory with Python's own HTTP
server (so a tampered copy is served as it is); --archive reads an air-gap archive the way
policy-controller's mirrorFS does (paths under "repository/"). Prints one JSON object:
{"ok": true, "root_version": N, "timestamp_version": N, "targets": {NAME: SHA256}} or
{"ok": false, "error": CLASS, "message": TEXT}.
"""

import argparse
import functools
import hashlib
import http.server
import json
import os
import sys
import tarfile
import tempfile
import threading

from tuf.api import exceptions
from tuf.ngclient import FetcherInterface, Updater


class ArchiveFetcher(FetcherInterface):
    """Files of an extracted archive, as policy-controller's fsFetcher serves them."""

    def __init__(self, root, base):
        self.root, self.base = root, base

    def _fetch(self, url):
        rel = url[len(self.base):].lstrip("/")
        path = os.path.join(self.root, rel)
        if not os.path.isfile(path):
            raise exceptions.DownloadHTTPError(f"{rel} is not in the archive", 404)
        with open(path, "rb") as f:
            return iter([f.read()])


def quiet_server(directory):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--cache", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--url")
    src.add_argument("--serve-dir")
    src.add_argument("--archive")
    ap.add_argument("--target", action="append", default=[])
    a = ap.parse_args()

    metadata = os.path.join(a.cache, "metadata")
    targets = os.path.join(a.cache, "targets")
    os.makedirs(metadata, exist_ok=True)
    os.makedirs(targets, exist_ok=True)
    # The trust anchor on first use; afterwards the root this client has already reached.
    first = not os.path.exists(os.path.join(metadata, "root.json"))

    fetcher = None
    if a.url:
        url = a.url.rstrip("/")
    elif a.serve_dir:
        url = quiet_server(a.serve_dir)
    else:
        tmp = tempfile.mkdtemp()
        with tarfile.open(a.archive, "r:gz") as t:
            t.extractall(tmp, filter="data")
        url = "mem://repo"
        fetcher = ArchiveFetcher(os.path.join(tmp, "repository"), url)

    try:
        u = Updater(
            metadata_dir=metadata,
            metadata_base_url=url + "/",
            target_base_url=url + "/targets/",
            target_dir=targets,
            fetcher=fetcher,
            bootstrap=open(a.root, "rb").read() if first else None,
        )
        u.refresh()
        out = {"ok": True, "targets": {}}
        for name in a.target:
            info = u.get_targetinfo(name)
            if info is None:
                raise exceptions.RepositoryError(f"no target {name}")
            path = u.download_target(info, filepath=os.path.join(targets, name))
            with open(path, "rb") as f:
                out["targets"][name] = hashlib.sha256(f.read()).hexdigest()
        for role in ("root", "timestamp"):
            with open(os.path.join(metadata, f"{role}.json")) as f:
                out[f"{role}_version"] = json.load(f)["signed"]["version"]
    except (exceptions.RepositoryError, exceptions.DownloadError) as e:
        out = {"ok": False, "error": type(e).__name__, "message": str(e)}
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
