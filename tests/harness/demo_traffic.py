"""Live traffic for the demo stack: real requests to the SARK simulator, so its /metrics count something.

    SARK_DEMO_TOKEN=... python -m harness.demo_traffic --url http://127.0.0.1:PORT --layout runbook [--rate 1.0]

About `rate` requests per second over the layout's own routes (server list and detail, user list, health). Every
`fault_every`-th request is preceded by a one-shot fault (POST /_sim/faults: the simulator answers that one request
with a 503, as a SARK whose upstream hiccups would), so the live http_requests_total has its share of 5xx; every
`slow_every`-th request is held `slow_seconds` before the simulator serves it (a slow database, the slow spell the
backfilled history ends with: p95 stays above the HighLatency rule's 200 ms). Both are counted by the simulator
from the answers it really sent and the time they really took. Runs until SIGTERM; the demo stack records its PID.
"""

import argparse
import itertools
import os
import signal
import sys
import threading

import httpx

ROUTES = {
    "runbook": [("GET", "/api/v1/servers"), ("GET", "/api/v1/servers"), ("GET", "/api/v1/servers/{server_id}"),
                ("GET", "/api/v1/users"), ("GET", "/health")],
    "sark_v2": [("GET", "/api/v1/servers/"), ("GET", "/api/v1/servers/"), ("GET", "/api/v1/servers/{server_id}"),
                ("GET", "/health/")],
}


def server_ids(client, layout):
    path = "/api/v1/servers" if layout == "runbook" else "/api/v1/servers/"
    try:
        body = client.get(path, params={"limit": 20}).json()
    except (httpx.HTTPError, ValueError):
        return ["1"]
    items = body.get("servers") or body.get("items") or [] if isinstance(body, dict) else body
    return [str(item.get("id")) for item in items if isinstance(item, dict) and item.get("id")] or ["1"]


def run(url, layout, token, rate=1.0, fault_every=2000, slow_every=8, slow_seconds=0.35, stop=None):
    stop = stop or threading.Event()
    headers = {"Authorization": "Bearer %s" % token} if token else {}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        ids = server_ids(client, layout)
        for number in itertools.count(1):
            if stop.wait(1.0 / rate):
                return number - 1
            method, path = ROUTES[layout][number % len(ROUTES[layout])]
            path = path.replace("{server_id}", ids[number % len(ids)])
            try:
                if number % fault_every == 20 % fault_every:  # an early one, then one every fault_every requests
                    client.post("/_sim/faults", json={"path_prefix": path, "status": 503, "count": 1})
                elif slow_every and number % slow_every == 0:
                    client.post("/_sim/faults", json={"path_prefix": path, "delay_seconds": slow_seconds, "count": 1})
                client.request(method, path)
            except httpx.HTTPError:
                continue  # the simulator is stopping or busy: the next request tries again
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m harness.demo_traffic", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--layout", choices=sorted(ROUTES), default="runbook")
    parser.add_argument("--rate", type=float, default=1.0, help="requests per second")
    parser.add_argument("--fault-every", type=int, default=2000)
    parser.add_argument("--slow-every", type=int, default=8, help="0: none held")
    parser.add_argument("--slow-seconds", type=float, default=0.35)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    run(args.url, args.layout, os.environ.get("SARK_DEMO_TOKEN"), args.rate, args.fault_every, args.slow_every,
        args.slow_seconds, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
