"""A stand-in for the few Kubernetes API server calls behind cosign's k8s:// keys (no API
server, kind or k3s can be obtained here): GET /version; the discovery kubectl reads (/api,
/apis, /api/v1); GET /api/v1/namespaces/NS; Secrets: GET, POST and PUT
/api/v1/namespaces/NS/secrets[/NAME], with the API server's defaulting (type Opaque, uid,
resourceVersion, creationTimestamp), its AlreadyExists and NotFound statuses, and the rule that an
immutable Secret's data cannot change. HTTPS with the given certificate; every request must carry
the bearer token or a client certificate issued by CLIENT_CA (else 401). Secrets live in memory.
GET /_standin/requests (no auth) lists "METHOD PATH AUTH" for each request served.

usage: python3 kube_standin.py CERT KEY CLIENT_CA TOKEN
prints "listening on PORT" once it serves on 127.0.0.1.
"""
import json
import ssl
import sys
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CERT, KEY, CLIENT_CA, TOKEN = sys.argv[1:5]
SECRETS = {}
REQUESTS = []
VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"}
RESOURCES = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
         "verbs": ["create", "get", "update"]},
        {"name": "namespaces", "singularName": "namespace", "namespaced": False,
         "kind": "Namespace", "verbs": ["get"]},
    ],
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def auth(self):
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return "token"
        if self.connection.getpeercert():
            return "cert"
        return None

    def send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, message):
        self.send(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                         "status": "Failure", "message": message, "reason": reason,
                         "code": code})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(n) or b"null")
        except ValueError:
            return None

    def route(self, method):
        path = self.path.split("?")[0].rstrip("/")
        if path == "/_standin/requests":
            return self.send(200, REQUESTS)
        who = self.auth()
        REQUESTS.append(f"{method} {path} {who}")
        if who is None:
            return self.status(401, "Unauthorized", "Unauthorized")
        parts = path.split("/")[1:]
        if method == "GET" and path == "/version":
            return self.send(200, VERSION)
        if method == "GET" and path == "/api":
            return self.send(200, {"kind": "APIVersions", "versions": ["v1"]})
        if method == "GET" and path == "/apis":
            return self.send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        if method == "GET" and path == "/api/v1":
            return self.send(200, RESOURCES)
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 4 and method == "GET":
            return self.send(200, {"kind": "Namespace", "apiVersion": "v1",
                                   "metadata": {"name": parts[3]}})
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) >= 5 and parts[4] == "secrets":
            return self.secrets(method, parts[3], parts[5] if len(parts) > 5 else None)
        return self.status(404, "NotFound", f"the server could not find {path}")

    def secrets(self, method, ns, name):
        if method == "GET" and name:
            s = SECRETS.get((ns, name))
            if s is None:
                return self.status(404, "NotFound", f'secrets "{name}" not found')
            return self.send(200, s)
        obj = self.body()
        if method not in ("POST", "PUT") or not isinstance(obj, dict):
            return self.status(400, "BadRequest", "expected a Secret object")
        meta = obj.get("metadata") or {}
        if obj.get("kind") != "Secret" or not meta.get("name"):
            return self.status(400, "BadRequest", "a Secret needs kind Secret and metadata.name")
        key = (ns, meta["name"])
        if method == "POST" and key in SECRETS:
            return self.status(409, "AlreadyExists", f'secrets "{meta["name"]}" already exists')
        if method == "PUT":
            old = SECRETS.get(key)
            if old is None or name != meta["name"]:
                return self.status(404, "NotFound", f'secrets "{name}" not found')
            if old.get("immutable") and old.get("data") != obj.get("data"):
                return self.status(422, "Invalid", f'Secret "{name}" is invalid: data: '
                                   "Forbidden: field is immutable when `immutable` is set")
        stored = dict(obj)
        stored["apiVersion"] = "v1"
        stored.setdefault("type", "Opaque")
        stored["metadata"] = dict(meta, namespace=ns, uid=str(uuid.uuid4()),
                                  resourceVersion=str(len(REQUESTS)),
                                  creationTimestamp=datetime.now(timezone.utc)
                                  .strftime("%Y-%m-%dT%H:%M:%SZ"))
        SECRETS[key] = stored
        self.send(201 if method == "POST" else 200, stored)

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
ctx.load_verify_locations(CLIENT_CA)
ctx.verify_mode = ssl.CERT_OPTIONAL
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(f"listening on {server.server_address[1]}", flush=True)
server.serve_forever()
