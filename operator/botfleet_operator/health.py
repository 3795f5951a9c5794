"""The operator's health endpoints, served from process start (before leader election).

- `GET /healthz` (liveness): 200 while the process's loops make progress: the leader-election loop
  (standby or leader) and, once the controller runs, its event loop. Leadership plays no part:
  a standby waiting for the Lease is alive, and killing it would only remove the spare.
- `GET /readyz` (readiness): 200 when alive and not shutting down. A standby is ready: "ready to
  take over" is exactly its job, and a Deployment of leader + standby must become Available.
- `GET /leader`: 200 on the replica that holds the Lease, 503 on a standby (for humans and tests;
  the metric `botfleet_operator_leader` says the same).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("botfleet.operator.health")


class Health:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self._beats: dict[str, tuple[float, float]] = {}  # name -> (last beat, max age)
        self._lock = threading.Lock()
        self.leading: Callable[[], bool] = lambda: False
        self.stopping = False

    def beat(self, name: str, max_age: float) -> None:
        """`name` made progress now; liveness fails if it makes none for `max_age` seconds."""
        with self._lock:
            self._beats[name] = (self.monotonic(), max_age)

    def forget(self, name: str) -> None:
        with self._lock:
            self._beats.pop(name, None)

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        now = self.monotonic()
        with self._lock:
            stale = {n: round(now - at, 1) for n, (at, max_age) in self._beats.items() if now - at > max_age}
        return not stale, {"status": "ok" if not stale else "failing",
                           "stalled": {n: f"no progress for {age}s" for n, age in stale.items()}}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        alive, body = self.liveness()
        ready = alive and not self.stopping
        return ready, {"ready": ready, "leader": self.leading(), "stopping": self.stopping, **body}

    def leader(self) -> tuple[bool, dict[str, Any]]:
        leading = self.leading()
        return leading, {"leader": leading}

    def serve(self, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
        routes: dict[str, Callable[[], tuple[bool, dict[str, Any]]]] = {
            "/healthz": self.liveness, "/readyz": self.readiness, "/leader": self.leader}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                route = routes.get(self.path.split("?", 1)[0])
                if route is None:
                    ok, body = False, {"error": "not found; try /healthz, /readyz or /leader"}
                    code = 404
                else:
                    ok, body = route()
                    code = 200 if ok else 503
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: not logged
                return

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
        log.info("health endpoints on :%d (/healthz, /readyz, /leader)", port)
        return server
