"""layout set once per play: module_defaults of each action group (meta/runtime.yml) with layout, one module of each
group run through ansible-playbook. Before issue #10, layout in group/sark.ops.redis broke sark_redis_info, and
group/sark.ops.all broke every module that had no layout option."""

import json
import os
import re
import subprocess
import sys

import yaml

from harness.servers import free_port

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def runtime_groups():
    with open(os.path.join(COLLECTION_ROOT, "meta", "runtime.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["action_groups"]


def module_source(name):
    with open(os.path.join(COLLECTION_ROOT, "plugins", "modules", name + ".py"), encoding="utf-8") as handle:
        return handle.read()


# The sibling platforms' groups (issue #15): their modules are not in `all` (whose layout is SARK's); each takes its
# platform's layout (code layout) and the group's connections. group -> (module name prefix, the platform's code layout)
SIBLING_GROUPS = {"rsp": ("rsp_", "rsp_code"), "auditron": ("auditron_", "auditron_code")}


def test_every_module_is_in_all_and_accepts_layout():
    groups = runtime_groups()
    modules = sorted(f[:-3] for f in os.listdir(os.path.join(COLLECTION_ROOT, "plugins", "modules")) if f.endswith(".py"))
    prefixes = tuple(prefix for prefix, _layout in SIBLING_GROUPS.values())
    assert sorted(groups["all"]) == [m for m in modules if not m.startswith(prefixes)]
    for group, (prefix, _layout) in SIBLING_GROUPS.items():
        assert sorted(groups.get(group, [])) == [m for m in modules if m.startswith(prefix)], group
    for name, members in groups.items():
        for member in members:
            source = module_source(member)
            if name in SIBLING_GROUPS:
                # the platform's layout option through sark_main's list of shared specs (_layout.platform_layout_argument_spec)
                # (rsp: rsp_layout_argument_spec; auditron: _auditron.layout_spec, built from platform_layout_argument_spec)
                assert re.search(r"sark_main\([\s\S]{0,300}?(\b%s_layout_argument_spec\b|\bau\.layout_spec\b)" % name, source), (name, member)
                continue
            # the layout options join the spec either directly or through _module.sark_main's list of shared specs
            assert re.search(r"spec\.update\(layout_argument_spec\(\)\)|sark_main\([^\n]*\blayout_argument_spec\b", source), (name, member)


def test_layout_in_module_defaults_of_every_group(collections_dir, redis_server, tmp_path):
    closed = free_port()
    out = str(tmp_path / "results.json")
    # one module of each group; those without a server here point at a closed port and must fail on the connection,
    # never on their options
    tasks = [
        ("redis", "sark.ops.sark_session_info", {"redis_host": "127.0.0.1", "redis_port": redis_server.port}, True),
        ("postgres", "sark.ops.sark_pg_backend", {"pg_host": "127.0.0.1", "pg_port": closed, "pg_connect_timeout": 2}, False),
        ("api", "sark.ops.sark_health", {"api_url": "http://127.0.0.1:%d" % closed, "api_retries": 0}, False),
        ("opa", "sark.ops.sark_opa_policy_info", {"opa_url": "http://127.0.0.1:%d" % closed, "opa_retries": 0}, False),
        ("alertmanager", "sark.ops.sark_alert_silence",
         {"alertmanager_url": "http://127.0.0.1:%d" % closed, "alertmanager_retries": 0}, False),
        ("prometheus", "sark.ops.sark_alert_info", {"prometheus_url": "http://127.0.0.1:%d" % closed, "prometheus_retries": 0}, False),
        ("k8s", "sark.ops.sark_workload_info", {"kubeconfig": str(tmp_path / "no-kubeconfig")}, False),
        ("all", "sark.ops.sark_pg_backup_info", {}, True),
        ("rsp", "sark.ops.rsp_health_info",
         {"rsp_auth_url": "http://127.0.0.1:%d" % closed, "rsp_auth_retries": 0,
          "rsp_policy_url": "http://127.0.0.1:%d" % closed, "rsp_policy_retries": 0}, True),
    ]
    args = {
        "sark.ops.sark_session_info": {},
        "sark.ops.sark_pg_backend": {"state": "cancel", "pids": [1]},
        "sark.ops.sark_health": {},
        "sark.ops.sark_opa_policy_info": {},
        "sark.ops.sark_alert_silence": {"state": "absent", "silence_id": "00000000-0000-0000-0000-000000000000"},
        "sark.ops.sark_alert_info": {"sources": ["prometheus"]},
        "sark.ops.sark_workload_info": {"namespace": "sark"},
        "sark.ops.sark_pg_backup_info": {"backup_dir": str(tmp_path / "backups")},
        # unreachable services are findings (down), not a failure
        "sark.ops.rsp_health_info": {},
    }
    play = [{
        "hosts": "localhost", "gather_facts": False,
        "module_defaults": {"group/sark.ops.%s" % group: (dict(conn, layout=SIBLING_GROUPS[group][1]) if group in SIBLING_GROUPS
                                                          else dict(conn, layout="sark_v2", layout_templates={}))
                            for group, _module, conn, _ok in tasks},
        "tasks": [{"name": group, module: args[module], "register": "r_%s" % group, "ignore_errors": True}
                  for group, module, _conn, _ok in tasks] + [
            {"name": "results", "ansible.builtin.copy": {
                "dest": out, "content": "{{ {%s} | to_json }}" % ", ".join("'%s': r_%s" % (g, g) for g, _m, _c, _o in tasks)}}],
    }]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_dir), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
                           str(path)], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert os.path.exists(out), proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out, encoding="utf-8") as handle:
        results = json.load(handle)
    for group, module, _conn, must_succeed in tasks:
        result = results[group]
        msg = result.get("msg", "")
        assert "nsupported parameter" not in msg, (group, module, msg)
        assert "evidence" in result, (group, module, result)
        assert result["evidence"]["requested"]["layout"] == (SIBLING_GROUPS[group][1] if group in SIBLING_GROUPS else "sark_v2"), (
            group, module, result)
        if must_succeed:
            assert not result.get("failed"), (group, module, msg)
            assert result["changed"] is False
    assert results["redis"]["layout"] == "sark_v2" and results["redis"]["scope"] == "all"
