"""The request metrics SARK exports at GET /metrics (prometheus_client), counted from the requests the simulator serves.

    http_requests_total{method, endpoint, status}               counter
    http_request_duration_seconds{method, endpoint}             histogram (_bucket{le}, _sum, _count)

`endpoint` is the route template (``/api/v1/servers/{server_id}``), never the raw path, so an id in a URL does not make
a new series; a request no route matched counts as ``endpoint="other"``. The simulator's own controls (/_sim/) and
/metrics itself are not counted. Every count comes from a request the simulator answered: the status it sent and the
time it took (a fault injected with /_sim/faults is a response it really sent, so it counts too).
"""

import re

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

# prometheus_client's default buckets (what SARK's instrumentation uses), seconds
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
NOT_COUNTED = ("/_sim/", "/metrics")


class RequestMetrics:
    """One registry per app (a test may run several simulators in one process)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, app=None):
        self.app = app  # the FastAPI app: names the route of a request answered before routing (a fault)
        self._templates = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("http_requests_total", "HTTP requests answered, by method, route and status",
                                ("method", "endpoint", "status"), registry=self.registry)
        self.duration = Histogram("http_request_duration_seconds", "Time to answer an HTTP request, by method and route",
                                  ("method", "endpoint"), buckets=BUCKETS, registry=self.registry)

    @staticmethod
    def counted(path):
        return not any(path == p.rstrip("/") or path.startswith(p) for p in NOT_COUNTED)

    def observe(self, scope, status, seconds):
        endpoint = getattr(scope.get("route"), "path", None) or self._route_of(scope) or "other"
        method = scope.get("method", "GET")
        # no status: the app raised before answering; the server sends a 500
        self.requests.labels(method, endpoint, str(status or 500)).inc()
        self.duration.labels(method, endpoint).observe(max(0.0, float(seconds)))

    def _route_of(self, scope):
        """The route template of a request answered before routing (a fault), from the app's OpenAPI paths."""
        if self._templates is None:
            paths = (self.app.openapi().get("paths") or {}) if self.app is not None else {}
            self._templates = [(re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"), path)
                               for path in sorted(paths, key=lambda p: (p.count("{"), -len(p)))]
        for pattern, template in self._templates:
            if pattern.match(scope.get("path", "")):
                return template
        return None

    def render(self):
        return generate_latest(self.registry)
