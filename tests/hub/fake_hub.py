"""A small imitation of the Hugging Face hub, served on loopback, for the hub/ tests.

Real HTTP (Python's http.server, one thread per connection), real redirects, real
Range requests. It speaks the part of the hub's protocol that a downloader uses:

  GET /api/models/{owner}/{name}/revision/{rev}?blobs=true
      -> {"id", "sha": <commit>, "siblings": [{"rfilename", "size", "blobId", "lfs"?}]}
  GET|HEAD /{owner}/{name}/resolve/{rev}/{path}
      -> small files: 200 with the bytes, ETag = the git blob id;
         LFS files:   302 to /cdn/{sha256} with X-Linked-Etag / X-Linked-Size;
         both carry X-Repo-Commit.
  GET /cdn/{sha256}   the bytes of an LFS file; honours "Range: bytes=N-" (206)

Errors as the hub sends them: 404 + X-Error-Code RepoNotFound / RevisionNotFound /
EntryNotFound, 401 (no token) or 403 (wrong token) + X-Error-Code GatedRepo.

A repo made with blobs=False lists names only, as a mirror without ?blobs=true would,
so the client must HEAD each file for its etag and size.

Faults for tests: `cut_first` (sha256s whose first CDN transfer is cut half-way, the
connection closed mid-body), `corrupt` (sha256s served with one byte flipped while the
listing keeps the true digest), `oversize` (sha256s served with 1 MiB too many), `missing` ((repo, path) pairs listed but answered 404).
Every request is recorded in `log` (method, path, Range, Authorization), so tests can
assert that a cache hit made no request at all.

Facts about the protocol come from huggingface_hub's documented behaviour; this is a
test double written for this project, not the hub's code.
"""

import hashlib
import http.server
import json
import os
import sys
import threading
import urllib.parse

LFS_MIN_SIZE = 10_000  # the hub's rule is .gitattributes patterns; size is enough here
LFS_SUFFIXES = (".safetensors", ".gguf", ".bin")


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(path, data):
    return path.endswith(LFS_SUFFIXES) or len(data) >= LFS_MIN_SIZE


class Repo:
    def __init__(self, repo_id, files, commit=None, gated_token=None, branches=("main",), blobs=True):
        self.blobs = blobs  # False: a mirror whose listing ignores ?blobs=true
        self.repo_id = repo_id
        self.files = dict(files)  # path -> bytes
        self.commit = commit or hashlib.sha1(repr(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in self.files.items())).encode() + repo_id.encode()).hexdigest()
        self.gated_token = gated_token
        self.branches = set(branches)

    def sibling(self, path):
        data = self.files[path]
        s = {"rfilename": path, "size": len(data), "blobId": git_blob_sha1(data)}
        if is_lfs(path, data):
            s["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return s


class FakeHub:
    def __init__(self):
        self.repos = {}
        self.blobs = {}  # sha256 -> bytes (the CDN)
        self.log = []
        self.lock = threading.Lock()
        self.cut_first = set()
        self.corrupt = set()
        self.missing = set()
        self.oversize = set()
        self._cut_done = set()
        self.server = None

    def add_repo(self, repo_id, folder=None, files=None, **kw):
        files = dict(files or {})
        if folder:
            for root, _, names in os.walk(folder):
                for n in names:
                    full = os.path.join(root, n)
                    with open(full, "rb") as f:
                        files[os.path.relpath(full, folder).replace(os.sep, "/")] = f.read()
        repo = Repo(repo_id, files, **kw)
        self.repos[repo_id] = repo
        for path, data in repo.files.items():
            if is_lfs(path, data):
                self.blobs[hashlib.sha256(data).hexdigest()] = data
        return repo

    def requests(self):
        with self.lock:
            return list(self.log)

    def clear_log(self):
        with self.lock:
            self.log.clear()

    def start(self):
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: the test prints what matters
                pass

            def _record(self):
                with hub.lock:
                    hub.log.append({"method": self.command, "path": self.path,
                                    "range": self.headers.get("Range"),
                                    "auth": self.headers.get("Authorization")})

            def _send(self, status, body=b"", headers=None, head=False):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head and body:
                    self.wfile.write(body)

            def _error(self, status, code, message):
                body = json.dumps({"error": message}).encode()
                self._send(status, body, {"X-Error-Code": code, "X-Error-Message": message,
                                          "Content-Type": "application/json"}, head=self.command == "HEAD")

            def _repo(self, repo_id):
                repo = hub.repos.get(repo_id)
                if repo is None:
                    self._error(404, "RepoNotFound", f"Repository Not Found for url: {self.path}.")
                    return None
                if repo.gated_token:
                    auth = self.headers.get("Authorization")
                    if not auth:
                        self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must be authenticated to access it.")
                        return None
                    if auth != f"Bearer {repo.gated_token}":
                        self._error(403, "GatedRepo", f"Access to model {repo_id} is restricted and you are not in the authorized list.")
                        return None
                return repo

            def _revision_ok(self, repo, rev):
                if rev in repo.branches or rev == repo.commit:
                    return True
                self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
                return False

            def _serve_bytes(self, data, extra, head):
                """200 or 206 with Range support; `extra` headers added."""
                rng = self.headers.get("Range")
                start = 0
                if rng and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[6:-1])
                if start >= len(data) and rng:
                    self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
                    return
                headers = dict(extra)
                headers["Accept-Ranges"] = "bytes"
                if rng:
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                self.send_response(206 if rng else 200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if head:
                    return
                view = memoryview(data)[start:]
                for i in range(0, len(view), 1 << 20):
                    self.wfile.write(view[i:i + (1 << 20)])

            def do_HEAD(self):
                self.do_GET(head=True)

            def do_GET(self, head=False):
                self._record()
                url = urllib.parse.urlsplit(self.path)
                parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
                # /api/models/{owner}/{name}/revision/{rev}
                if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "revision":
                    repo = self._repo(f"{parts[2]}/{parts[3]}")
                    if repo is None or not self._revision_ok(repo, parts[5]):
                        return
                    blobs = "blobs=true" in (url.query or "") and repo.blobs
                    sib = [repo.sibling(p) if blobs else {"rfilename": p} for p in sorted(repo.files)]
                    body = json.dumps({"id": repo.repo_id, "sha": repo.commit, "siblings": sib}).encode()
                    self._send(200, body, {"Content-Type": "application/json"}, head)
                    return
                # /{owner}/{name}/resolve/{rev}/{path...}
                if len(parts) >= 5 and parts[2] == "resolve":
                    repo = self._repo(f"{parts[0]}/{parts[1]}")
                    if repo is None or not self._revision_ok(repo, parts[3]):
                        return
                    path = "/".join(parts[4:])
                    if path not in repo.files or (repo.repo_id, path) in hub.missing:
                        self._error(404, "EntryNotFound", f"{path} does not exist on \"{parts[3]}\"")
                        return
                    data = repo.files[path]
                    common = {"X-Repo-Commit": repo.commit, "ETag": f'"{git_blob_sha1(data)}"'}
                    if is_lfs(path, data):
                        sha = hashlib.sha256(data).hexdigest()
                        host = self.headers.get("Host", "127.0.0.1")
                        common.update({"X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(len(data)),
                                       "Location": f"http://{host}/cdn/{sha}?X-Signature=test"})
                        self._send(302, b"", common, head)
                    else:
                        self._serve_bytes(data, common, head)
                    return
                # /cdn/{sha256}: no token needed (the real CDN URLs are signed)
                if len(parts) == 2 and parts[0] == "cdn" and parts[1] in hub.blobs:
                    sha = parts[1]
                    data = hub.blobs[sha]
                    if sha in hub.corrupt:
                        data = bytes([data[0] ^ 0xFF]) + data[1:]
                    if sha in hub.oversize:
                        data = data + b"\0" * (1 << 20)
                    with hub.lock:
                        cut = sha in hub.cut_first and sha not in hub._cut_done
                        if cut:
                            hub._cut_done.add(sha)
                    if cut and not head:
                        # Promise the whole file, send half, then drop the connection.
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.send_header("Accept-Ranges", "bytes")
                        self.end_headers()
                        self.wfile.write(data[: len(data) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self._serve_bytes(data, {"ETag": f'"{sha}"'}, head)
                    return
                self._error(404, "EntryNotFound", "no such route")

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A client that hangs up mid-body (it aborted, or a test cut it) is normal here.
                if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
