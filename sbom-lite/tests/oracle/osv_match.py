"""An independent computation of OSV matches, for sbom-lite's scan test.

Reads an SPDX JSON SBOM and a directory of OSV records and prints, as JSON, the set of
[package, version, advisory id, fixed versions] that the OSV evaluation rules
(osv-schema docs/schema.md, "Evaluation") give, using each ecosystem's reference ordering:
`dpkg --compare-versions` for Debian, Python `packaging` for PyPI, and npm's `semver`
package (run by node) for npm and crates.io. Alpine is not covered (no apk oracle here).
Written for this project; it shares no code with sbom-lite.
"""
import functools
import glob
import json
import os
import subprocess
import sys
from urllib.parse import unquote

from packaging.version import Version

NODE = os.environ["ORACLE_NODE"]


def dpkg_cmp(a, b):
    if subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0:
        return -1
    if subprocess.run(["dpkg", "--compare-versions", a, "eq", b]).returncode == 0:
        return 0
    return 1


@functools.lru_cache(maxsize=None)
def semver_cmp(a, b):
    out = subprocess.run([NODE, "-e", "const s=require('semver');console.log(s.compare(process.argv[1],process.argv[2]))", a, b],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def pep440_cmp(a, b):
    va, vb = Version(a), Version(b)
    return (va > vb) - (va < vb)


CMP = {"Debian": dpkg_cmp, "PyPI": pep440_cmp, "npm": semver_cmp, "crates.io": semver_cmp}


def affected(cmp, ranges, versions, v):
    if v in versions:
        return True
    for r in ranges:
        if r["type"] not in ("ECOSYSTEM", "SEMVER"):
            continue
        evs = [(k, x) for e in r["events"] for k, x in e.items()]
        key = functools.cmp_to_key(lambda a, b: -1 if a[1] == "0" and b[1] != "0" else (1 if b[1] == "0" and a[1] != "0" else (0 if a[1] == b[1] == "0" else cmp(a[1], b[1]))))
        vuln = False
        for k, x in sorted(evs, key=key):
            if k == "introduced" and (x == "0" or cmp(v, x) >= 0):
                vuln = True
            elif k == "fixed" and cmp(v, x) >= 0:
                vuln = False
            elif k == "last_affected" and cmp(v, x) > 0:
                vuln = False
        if vuln:
            return True
    return False


def main(sbom_path, feed):
    sbom = json.load(open(sbom_path))
    pkgs = []
    for p in sbom["packages"]:
        for ref in p.get("externalRefs", []):
            if ref["referenceType"] == "purl":
                purl = ref["referenceLocator"]
                head, _, quals = purl.partition("?")
                ty, _, rest = head[4:].partition("/")
                path, _, _ = rest.rpartition("@")
                q = dict(kv.split("=", 1) for kv in quals.split("&") if kv)
                pkgs.append((ty, unquote(path), p["name"], p["versionInfo"], {k: unquote(v) for k, v in q.items()}))
    records = []
    for f in sorted(glob.glob(os.path.join(feed, "*.json"))):
        try:
            r = json.load(open(f))
        except ValueError:
            continue
        if "id" in r and "modified" in r and not r.get("withdrawn"):
            records.append(r)
    found = set()
    for ty, path, name, version, q in pkgs:
        if ty == "deb":
            # The binary by its own version, and its source package by the source's version
            # when the purl's upstream qualifier records one (syft's upstream=name@version).
            uname, _, uversion = q.get("upstream", name).partition("@")
            eco, names = "Debian", {(name, version), (uname, uversion or version)}
            release = q.get("distro", "debian-").split("-", 1)[1].split(".")[0]
        elif ty == "pypi":
            eco, names, release = "PyPI", {(name.lower().replace("_", "-").replace(".", "-"), version)}, None
        elif ty == "npm":
            eco, names, release = "npm", {(path, version)}, None
        elif ty == "cargo":
            eco, names, release = "crates.io", {(path, version)}, None
        else:
            continue
        for r in records:
            for a in r.get("affected", []):
                e = a["package"]["ecosystem"]
                base, _, suffix = e.partition(":")
                searched = [v for (n, v) in names if n == a["package"]["name"]]
                if base != eco or not searched:
                    continue
                if suffix and release is not None and suffix != release:
                    continue
                if any(affected(CMP[eco], a.get("ranges", []), a.get("versions", []), v) for v in searched):
                    fixed = sorted({ev["fixed"] for rg in a.get("ranges", []) for ev in rg["events"] if "fixed" in ev})
                    found.add((name, version, r["id"], tuple(fixed)))
    json.dump(sorted([list(x[:3]) + [list(x[3])] for x in found]), sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
