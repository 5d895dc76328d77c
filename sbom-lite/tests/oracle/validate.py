"""Validates sbom-lite's documents with independent tools: pyspdxtools (spdx-tools) for SPDX
2.3, cyclonedx-python-lib's strict JSON validator for CycloneDX 1.6 and 1.5.

usage: validate.py SPDX_JSON CYCLONEDX_1.6_JSON CYCLONEDX_1.5_JSON; prints "valid" or exits 1.
"""
import os
import subprocess
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

spdx, c16, c15 = sys.argv[1:4]
tool = os.path.join(os.path.dirname(sys.executable), "pyspdxtools")
r = subprocess.run([tool, "-i", spdx], capture_output=True, text=True)
if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
    sys.exit(f"pyspdxtools rejects {spdx}: {r.stdout}{r.stderr}")
for path, version in ((c16, SchemaVersion.V1_6), (c15, SchemaVersion.V1_5)):
    error = JsonStrictValidator(version).validate_str(open(path).read())
    if error is not None:
        sys.exit(f"{path}: {error}")
print("valid")
