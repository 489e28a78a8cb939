#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_report_files
short_description: Write the files of one report (Markdown, HTML, JSON, incident documents) in one step
version_added: 0.3.0
description:
  - Writes a set of rendered files - a checklist's Markdown, HTML and JSON report, an incident's communication documents -
    into one directory on the managed node, in one module run.
  - What M(ansible.builtin.file) plus one M(ansible.builtin.copy) per file do, in one process instead of two per file (a stat
    and a copy). The roles write a report with it at every run of every checklist and incident, so that is most of a
    report's cost (measured in C(benchmarks/bench_many_deployments.py)).
  - Every file is validated before any is written (names inside O(dir), no directory in the way, the size cap), then each is
    written whole or not at all (a temporary file beside it, renamed into place) and only when its content or permissions
    differ, so a second run with the same content reports C(changed=false).
  - O(state=absent) removes the named files (never the directory).
options:
  dir:
    description: The directory of the files. Created (with its parents, mode O(dir_mode)) when missing.
    type: path
    required: true
  files:
    description: The files, each a path relative to O(dir) (subdirectories are created) and its text content.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The file's path relative to O(dir); one that leaves O(dir) (C(..), an absolute path) is refused.
        type: str
        required: true
      content:
        description: The text written (UTF-8). Ignored with O(state=absent).
        type: str
        default: ''
  state:
    description: V(present) writes the files; V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description: Permissions of every file, as an octal string.
    type: str
    default: '0640'
  dir_mode:
    description: Permissions of a directory this module creates, as an octal string.
    type: str
    default: '0750'
  max_bytes:
    description: The most bytes all the files may hold together; more is refused before anything is written.
    type: int
    default: 67108864
extends_documentation_fragment:
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
  - sark.ops.attributes.ACTIONGROUP_ALL
attributes:
  check_mode:
    support: full
    details:
      - Compares each file with its content and permissions on disk and writes nothing (not even the directory);
        C(changed) says whether any file would change.
  diff_mode:
    support: full
    details:
      - Per changed file, a summary before and after (exists, bytes, SHA-256), not the content.
  idempotent:
    support: full
seealso:
  - module: ansible.builtin.copy
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Write the daily report in its three formats
  sark.ops.sark_report_files:
    dir: /var/tmp/sark-reports/prod
    files:
      - name: daily-20261201T060000Z.md
        content: "{{ report | sark.ops.report_render('md') }}"
      - name: daily-20261201T060000Z.html
        content: "{{ report | sark.ops.report_render('html') }}"
      - name: daily-20261201T060000Z.json
        content: "{{ report | sark.ops.report_render('json') }}"
  register: written

- name: Remove a report
  sark.ops.sark_report_files:
    dir: /var/tmp/sark-reports/prod
    state: absent
    files:
      - name: daily-20261201T060000Z.md
'''

RETURN = r'''
dir:
  description: The absolute path of the directory.
  returned: success
  type: str
  sample: /var/tmp/sark-reports/prod
files:
  description: Each file, with what was (or in check mode would be) done to it.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The absolute path of the file.
      type: str
    bytes:
      description: The size of its content (0 with O(state=absent)).
      type: int
    sha256:
      description: The SHA-256 of its content (null with O(state=absent)).
      type: str
    change:
      description: V(create), V(update) (other content), V(mode) (same content, other permissions), V(remove), or null (nothing to do).
      type: str
  sample: [{"path": "/var/tmp/sark-reports/prod/daily-20261201T060000Z.md", "bytes": 2048, "sha256": "9f86...", "change": "create"}]
planned_actions:
  description: The writes and removals that are (or in check mode would be) needed; empty when every file is already as asked.
  returned: success
  type: list
  elements: dict
  sample: [{"action": "create", "path": "/var/tmp/sark-reports/prod/daily-20261201T060000Z.md", "bytes": 2048}]
executed_actions:
  description: The writes and removals done; empty in check mode. After a failure half way, the files already written.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "create", "path": "/var/tmp/sark-reports/prod/daily-20261201T060000Z.md", "bytes": 2048}]
diff:
  description: With C(--diff), one summary per changed file (exists, bytes, SHA-256) before and after.
  returned: diff mode
  type: list
  elements: dict
  sample: [{"before_header": "/r/daily.md", "after_header": "/r/daily.md", "before": "exists: false\n", "after": "exists: true\nbytes: 2048\n"}]
evidence:
  description: The audit record - options asked for (file contents are not repeated), actions, counts, start time and duration.
  returned: always
  type: dict
'''

import os

from ansible_collections.sark.ops.plugins.module_utils._files import describe_os_error, parse_mode, place_in, plan_files, write_planned
from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkOperationError, SarkValidationError, sark_main


def summary(exists, size=None, sha256=None):
    if not exists:
        return "exists: false\n"
    return "exists: true\n" + ("bytes: %s\n" % size if size is not None else "") + "sha256: %s\n" % sha256


def remove(module, directory):
    outcome = []
    for entry in module.params["files"]:
        path = place_in(directory, entry["name"])
        if os.path.isdir(path):
            raise SarkValidationError("%s is a directory: state=absent removes files only." % path)
        present = os.path.lexists(path)
        outcome.append({"path": path, "bytes": 0, "sha256": None, "change": "remove" if present else None})
        if not present:
            continue
        module.evidence.plan("remove", path=path)
        if not module.check_mode:
            try:
                os.unlink(path)
            except OSError as exc:
                raise SarkOperationError(describe_os_error(exc, path, "remove"))
            module.evidence.executed("remove", path=path)
    return outcome


def run(module):
    params = module.params
    # the audit record names the files; their content is the result itself, not repeated in the record
    named = [{"name": f["name"], "bytes": len((f.get("content") or "").encode("utf-8"))} for f in params["files"] or []]
    module.evidence.record["requested"]["files"] = named
    mode = parse_mode(params["mode"], "mode")
    dir_mode = parse_mode(params["dir_mode"], "dir_mode")
    if not params["files"]:
        raise SarkValidationError("files is empty: give at least one {name, content}.")
    directory = os.path.abspath(params["dir"])
    if params["state"] == "absent":
        outcome = remove(module, directory)
    else:
        directory, planned = plan_files(directory, params["files"], mode, params["max_bytes"])
        for entry in planned:
            if entry["change"]:
                module.evidence.plan(entry["change"], path=entry["path"], bytes=entry["bytes"])
        if not module.check_mode:
            write_planned(directory, planned, mode, dir_mode,
                          lambda entry: module.evidence.executed(entry["change"], path=entry["path"], bytes=entry["bytes"]))
        outcome = [{"path": e["path"], "bytes": e["bytes"], "sha256": e["sha256"], "change": e["change"]} for e in planned]
    module.evidence.set_count("files", len(outcome))
    result = {"changed": any(e["change"] for e in outcome), "dir": directory, "files": outcome}
    result.update(module.actions())
    if module.diff_mode and params["state"] == "present":
        result["diff"] = [{"before_header": e["path"], "after_header": e["path"],
                           "before": summary(e["exists"], None, e["before_sha256"]),
                           "after": summary(True, e["bytes"], e["sha256"])} for e in planned if e["change"]]
    return result


def main():
    file_spec = dict(name=dict(type="str", required=True), content=dict(type="str", default=""))
    spec = dict(
        dir=dict(type="path", required=True),
        files=dict(type="list", elements="dict", required=True, options=file_spec),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        mode=dict(type="str", default="0640"),
        dir_mode=dict(type="str", default="0750"),
        max_bytes=dict(type="int", default=64 * 1024 * 1024),
    )
    sark_main(run, spec, (layout_argument_spec,))


if __name__ == "__main__":
    main()
