#!/usr/bin/env python3
"""git-http-server.py — serve local git repositories over *smart* HTTP for tests.

Started by e2e/testenv-up.sh (repos in $TESTENV_DIR/git-repos, user "capstan", random password;
see GIT_HTTP_* in $TESTENV_DIR/env).

A minimal CGI bridge in front of `git http-backend` (from the git package), standard library only.
Works with the git CLI and with libgit2 (git2-rs / pygit2) for clone, fetch and push.

Why not `python3 -m http.server --cgi`: CGIHTTPRequestHandler always answers "200 Script output
follows" and ignores the CGI `Status:` header, so 401/404 from the backend are lost (no basic
auth possible), it cannot read chunked request bodies, and it is deprecated (removed in 3.15).

Usage:
  git-http-server.py --root "$REPOS" --port 18080 [--user alice --password "$PAT"] [--bind 127.0.0.1]
  git clone http://127.0.0.1:18080/<repo>.git             # repo = a dir under --root (bare or not)
  git clone http://alice:$PAT@127.0.0.1:18080/<repo>.git  # when --user/--password are given
With --user/--password every request needs that basic-auth pair (like a personal access token
for Azure DevOps / GitHub: any user name, token as password if --user is '*').
Push (receive-pack) is enabled for authenticated requests, or always with --allow-push.
Prints "listening on <port>" once ready; stop it by killing its PID.
"""
import argparse
import base64
import hmac
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True, help="directory that contains the repositories")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port (printed)")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--user", help="basic-auth user name ('*' = any)")
    ap.add_argument("--password", help="basic-auth password / token")
    ap.add_argument("--allow-push", action="store_true", help="enable receive-pack without auth")
    args = ap.parse_args()
    root = os.path.abspath(args.root)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet unless GIT_HTTP_SERVER_VERBOSE is set
            if os.environ.get("GIT_HTTP_SERVER_VERBOSE"):
                sys.stderr.write("%s %s\n" % (self.address_string(), fmt % a))

        def authorized(self):
            if args.password is None:
                return True, ""
            h = self.headers.get("Authorization", "")
            if not h.lower().startswith("basic "):
                return False, ""
            try:
                user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
            except Exception:
                return False, ""
            ok = hmac.compare_digest(pw, args.password) and args.user in (None, "*", user)
            return ok, user

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def handle_any(self):
            ok, user = self.authorized()
            if not ok:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = self.read_body() if self.command == "POST" else b""
            url = urlsplit(self.path)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": root,
                "GIT_HTTP_EXPORT_ALL": "1",
                "GATEWAY_INTERFACE": "CGI/1.1",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": url.path,
                "QUERY_STRING": url.query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_ADDR": self.client_address[0],
                "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
            }
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            if self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]  # protocol v2
            if user or args.allow_push:
                env["REMOTE_USER"] = user or "anonymous"  # http-backend enables receive-pack when set
            p = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True)
            head, _, out = p.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, out = p.stdout.partition(b"\n\n")
            status, headers = 200, []
            for line in head.decode("latin-1").splitlines():
                k, _, v = line.partition(":")
                if k.lower() == "status":
                    status = int(v.strip().split()[0])
                elif k:
                    headers.append((k, v.strip()))
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)
            if p.returncode and os.environ.get("GIT_HTTP_SERVER_VERBOSE"):
                sys.stderr.write(p.stderr.decode(errors="replace"))

        do_GET = do_POST = do_HEAD = handle_any

    srv = ThreadingHTTPServer((args.bind, args.port), Handler)
    print("listening on %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
