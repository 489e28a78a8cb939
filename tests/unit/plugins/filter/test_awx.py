"""plugins/filter/awx.py"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.awx import FilterModule, awx_changed_fields


def test_only_differing_or_missing_fields():
    desired = {"name": "a", "playbook": "p.yml", "verbosity": 0, "extra_vars": "---"}
    existing = {"id": 3, "name": "a", "playbook": "old.yml", "verbosity": 0}
    assert awx_changed_fields(desired, existing) == {"playbook": "p.yml", "extra_vars": "---"}
    assert awx_changed_fields(desired, dict(existing, playbook="p.yml", extra_vars="---")) == {}
    assert awx_changed_fields(desired, None) == desired
    assert awx_changed_fields({"v": None}, {}) == {"v": None}
    assert awx_changed_fields({"v": 0}, {"v": False}) == {}  # what Python (and the API's JSON) calls equal


def test_keys_restrict_the_comparison():
    desired = {"name": "c", "inputs": {"password": "s"}}
    assert awx_changed_fields(desired, {"name": "c", "inputs": {"password": "$encrypted$"}}, keys=["name"]) == {}
    with pytest.raises(AnsibleFilterError, match="keys not in the desired fields: nope"):
        awx_changed_fields(desired, {}, keys=["nope"])


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match="must be a dict of desired fields, not list"):
        awx_changed_fields([], {})
    with pytest.raises(AnsibleFilterError, match="existing must be a dict"):
        awx_changed_fields({}, "x")
    assert FilterModule().filters()["awx_changed_fields"] is awx_changed_fields


def test_job_template_body_resolves_the_ids():
    from ansible_collections.sark.ops.plugins.filter.awx import JOB_TEMPLATE_FIELDS, awx_job_template_body
    asset = dict((f, f) for f in JOB_TEMPLATE_FIELDS)
    asset.update(name="SARK x", project={"name": "p"}, related={"survey_spec": {}}, natural_key={})
    body = awx_job_template_body(asset, "1", 2, 3)
    assert body == dict(dict((f, f) for f in JOB_TEMPLATE_FIELDS), name="SARK x", organization=1, project=2, inventory=3)
    del asset["playbook"]
    with pytest.raises(AnsibleFilterError, match="job template SARK x lacks playbook"):
        awx_job_template_body(asset, 1, 2, 3)
    with pytest.raises(AnsibleFilterError, match="must be a job template"):
        awx_job_template_body([], 1, 2, 3)
