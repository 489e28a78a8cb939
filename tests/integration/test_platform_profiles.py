"""roles/sark_platform through ansible-playbook: every profile becomes the fact sark_profile, a platform's layouts are
its own (rsp with sark_v2 is refused, naming the profiles that exist), overrides merge, and with nothing set the
profile is SARK's runbook one (what the roles used before profiles)."""

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROFILES = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(COLLECTION_ROOT, "roles", "sark_platform", "vars", "*_*.yml")))


def collections_path(collections_dir):
    """This checkout as sark.ops, then the dependency collections (kubernetes.core, amazon.aws, ...) of the test stack."""
    return ":".join(p for p in (str(collections_dir), os.environ.get("SARK_DEPS_COLLECTIONS", "")) if p)


def run_role(collections_dir, tmp_path, extravars):
    out = tmp_path / "profile.json"
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "profile", "ansible.builtin.include_role": {"name": "sark.ops.sark_platform"}},
        {"name": "write", "ansible.builtin.copy": {"dest": str(out), "content": "{{ sark_profile | to_json }}", "mode": "0600"}}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    (tmp_path / "extra.json").write_text(json.dumps(extravars))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(collections_dir), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
                           "-e", "@%s" % (tmp_path / "extra.json"), str(path)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    profile = json.loads(out.read_text()) if out.exists() else None
    return proc, profile


def test_every_profile_and_the_default(collections_dir, tmp_path):
    # one play per profile would cost a playbook start each: one play loops over them instead
    out = tmp_path / "profiles.json"
    tasks = []
    for name in PROFILES:
        platform, layout = name.split("_", 1)
        tasks.append({"name": name, "ansible.builtin.include_role": {"name": "sark.ops.sark_platform"},
                      "vars": {"sark_platform": platform, "sark_layout": layout}})
        tasks.append({"name": "keep " + name, "ansible.builtin.set_fact": {"seen": "{{ seen | default({}) | combine({'%s': sark_profile}) }}" % name}})
    tasks.append({"name": "default", "ansible.builtin.include_role": {"name": "sark.ops.sark_platform"}})
    tasks.append({"name": "write", "ansible.builtin.copy": {
        "dest": str(out), "mode": "0600", "content": "{{ seen | combine({'default': sark_profile}) | to_json }}"}})
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(collections_dir), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
                           str(path)], capture_output=True, text=True, env=env, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    seen = json.loads(out.read_text())
    for name in PROFILES:
        with open(os.path.join(COLLECTION_ROOT, "roles", "sark_platform", "vars", name + ".yml"), encoding="utf-8") as handle:
            assert seen[name] == yaml.safe_load(handle)["sark_profile"], name
    assert seen["default"] == seen["sark_runbook"]
    assert seen["rsp_rsp_code"]["namespace"] == "rust-security"


@pytest.mark.parametrize("extravars, words", [
    ({"sark_platform": "rsp", "sark_layout": "sark_v2"}, ["No profile for platform \"rsp\" in layout \"sark_v2\"", "rsp_rsp_code"]),
    ({"sark_platform": "nosuch"}, ["sark_platform_name", "nosuch", "auditron"]),
    ({"sark_platform_name": "rsp", "sark_platform_layout": ["runbook"]}, ["sark_platform_layout"]),
])
def test_bad_platform_or_layout_is_refused(collections_dir, tmp_path, extravars, words):
    proc, profile = run_role(collections_dir, tmp_path, extravars)
    assert proc.returncode != 0 and profile is None
    for word in words:
        assert word in proc.stdout, proc.stdout[-3000:]


def test_overrides_merge_into_the_profile(collections_dir, tmp_path):
    overrides = {"namespace": "rsp-staging", "metrics": {"error_status_label": "code"}}
    extravars = {"sark_platform": "rsp", "sark_layout": "rsp_code", "sark_platform_overrides": overrides}
    proc, profile = run_role(collections_dir, tmp_path, extravars)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert profile["namespace"] == "rsp-staging" and profile["metrics"]["error_status_label"] == "code"
    assert profile["metrics"]["request_counter"] == "auth_http_requests_total"
    assert profile["layout"] == "rsp_code"
