"""Applies a Kubernetes admission response's JSONPatch to an object with python-jsonpatch (an
independent RFC 6902 implementation): apply_patch.py OBJECT.json PATCH_BASE64 -> patched JSON."""
import base64
import json
import sys

import jsonpatch

obj = json.load(open(sys.argv[1]))
ops = json.loads(base64.b64decode(sys.argv[2]))
print(json.dumps(jsonpatch.JsonPatch(ops).apply(obj)))
