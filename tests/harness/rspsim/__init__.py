"""Simulator of the Rust Security Platform's auth-service and policy-service (shared/spec/platforms-contract.md).

    from harness.rspsim import RspSimulator, DEMO_POLICIES
    with RspSimulator("rsp_code") as sim:        # both services, one process, two free ports
        sim.auth_url, sim.policy_url, sim.module_args()

Policies: DEMO_POLICIES (Cedar) by default; give policies= (text) to start with others. Decisions are evaluated by
cedarpy, a real Cedar engine.
"""

import json
import os
import urllib.request

from harness.servers import LOOPBACK, Simulator, free_port

LAYOUTS = ("runbook", "rsp_code")

DEMO_POLICIES = """// who may do what on the platform's documents
@id("admins-all")
permit(principal in Role::"admin", action, resource);

@id("users-read-docs")
permit(principal, action == Action::"read", resource is Document);

@id("no-delete-locked")
forbid(principal, action == Action::"delete", resource is Document) when { context.locked == true };
"""

# the schema the demo policies follow (Cedar schema syntax)
DEMO_SCHEMA = """entity Role;
entity User in [Role];
entity Document;
action read, write appliesTo { principal: [User], resource: [Document], context: {} };
action delete appliesTo { principal: [User], resource: [Document], context: { locked: Bool } };
"""


class RspSimulator(Simulator):
    """`python -m harness.rspsim` as a subprocess (own process group, log file, stopped by PID)."""

    name = "rspsim"

    def __init__(self, layout="runbook", policies=DEMO_POLICIES, metrics_public=False, workdir=None, port=None, policy_port=None):
        super().__init__(workdir, port)
        if layout not in LAYOUTS:
            raise ValueError("layout must be one of %s" % ", ".join(LAYOUTS))
        self.layout = layout
        self.policies = policies
        self.metrics_public = metrics_public
        self.policy_port = policy_port or free_port()

    @property
    def auth_url(self):
        return "http://%s:%d" % (self.host, self.port)

    @property
    def policy_url(self):
        return "http://%s:%d" % (self.host, self.policy_port)

    def write_policies(self, text):
        """The policies as the layout keeps them: one file (code) or a directory of *.cedar files (the ConfigMap)."""
        if self.layout == "rsp_code":
            path = os.path.join(self.workdir, "policies.cedar")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            return ["--policy-file", path]
        directory = os.path.join(self.workdir, "policies")
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        with open(os.path.join(directory, "policies.cedar"), "w", encoding="utf-8") as handle:
            handle.write(text)
        return ["--policies-dir", directory]

    def start(self):
        self.spawn_module(["--layout", self.layout, "--host", self.host, "--auth-port", str(self.port),
                           "--policy-port", str(self.policy_port)] + self.write_policies(self.policies),
                          env={"METRICS_PUBLIC": "true" if self.metrics_public else "false"})
        return self.wait_answering([self.auth_url + "/_sim/stats", self.policy_url + "/_sim/stats"], 20,
                                   "ports %d/%d" % (self.port, self.policy_port))

    def restart(self, policies=None):
        """Stop and start again (a pod restart): policies are read at start-up, so new ones need this."""
        self.stop()
        if policies is not None:
            self.policies = policies
        return self.start()

    def fault(self, **spec):
        """POST /_sim/fault on both services (auth_health_status, authorize_error, error_paths); no arguments clears it."""
        for url in (self.auth_url, self.policy_url):
            req = urllib.request.Request(url + "/_sim/fault", data=json.dumps(spec).encode("utf-8"), method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5):  # nosec - loopback only
                pass

    def stats(self, service="policy"):
        with urllib.request.urlopen((self.policy_url if service == "policy" else self.auth_url) + "/_sim/stats", timeout=5) as resp:
            return json.loads(resp.read())

    def module_args(self, **extra):
        """The connection options of the rsp_* modules for this simulator (fast retries)."""
        args = {"rsp_auth_url": self.auth_url, "rsp_policy_url": self.policy_url, "layout": self.layout,
                "rsp_auth_backoff": 0.01, "rsp_policy_backoff": 0.01}
        args.update(extra)
        return args


__all__ = ["RspSimulator", "DEMO_POLICIES", "DEMO_SCHEMA", "LAYOUTS", "LOOPBACK"]
