#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_server
short_description: Register, change the status of, soft or hard delete, and bulk import SARK MCP servers
version_added: 0.1.0
description:
  - Automates the runbook's "Register Server", "Delete Server" (soft and hard), "Bulk Operations - Import servers" and
    the incident runbook's "Disable compromised server" steps, in both layouts.
  - In the V(runbook) layout it uses C(POST /api/v1/servers), C(PATCH /api/v1/servers/{id}) and C(DELETE /api/v1/servers/{id})
    (the soft delete). In the V(sark_v2) layout it uses C(POST /api/v1/servers/), C(POST /api/v1/bulk/servers/register) for an
    import and, since SARK 2.x answers 405 to DELETE/PATCH of one server, C(PATCH /api/v1/bulk/servers/status). Both bulk
    routes are called with C(fail_on_first_error=false) and their outcome is read per item (with C(true) SARK 2.x commits
    and still reports every item failed).
  - Idempotent in both layouts. SARK 2.x does not keep server names unique, so there a server is identified by
    O(name) and O(endpoint) together (or by O(server_id)); the module looks it up before registering anything. Its list
    route gives items without endpoints and its C(search) is a substring match, so the module keeps the exact name itself and
    reads each candidate's endpoint with C(GET /api/v1/servers/{id}) (or, past one page of candidates, from
    C(GET /api/v1/export/servers.json)).
  - O(endpoint) must be an http(s) URL of at most 500 characters, the same rule an import applies to every row.
  - O(state=purged) deletes the row from PostgreSQL (the runbook's "hard delete"), which takes the server's tools with it
    in V(sark_v2). It needs O(force=true) and the PostgreSQL connection options; nothing else uses the database.
  - With O(import_csv), registers every row of a CSV file that is not registered yet, with O(concurrency) requests in flight,
    and reports a result per row (V(created), V(unchanged), V(failed) with the reason and the line number). Malformed rows
    are reported and skipped; the rest are imported. This replaces the runbook's one-C(curl)-per-line loop, which creates
    duplicates when run twice. In V(sark_v2) each request registers up to 100 rows (the bulk route); in V(runbook) one
    POST per row.
  - The import fails (with every row's result, the counts and, when something was registered, C(changed) and C(partial))
    when SARK failed any row (an error answer, a timeout, a refusal) or when no row could be imported at all. A bulk request
    that may have been done before its error answer (HTTP 500/502/504, a timeout) is not retried; its rows are looked up
    afterwards and reported V(created) when SARK did register them. Rerunning the same import registers only what is still
    missing.
  - The CSV is read as UTF-8; a byte-order mark at its start (as spreadsheet programs write) is ignored.
options:
  state:
    description:
      - V(present) registers the server if it is missing and sets O(status) when given.
      - V(absent) is the soft delete - the server is marked V(inactive) and kept.
      - V(purged) removes the row from the database (hard delete); needs O(force=true).
      - Ignored with O(import_csv) (an import only registers).
    type: str
    choices: [present, absent, purged]
    default: present
  name:
    description: Name of the server. Required unless O(server_id) or O(import_csv) is given.
    type: str
  endpoint:
    description:
      - URL of the server. Required to register one.
      - In V(sark_v2), part of the server's identity together with O(name) (names are not unique there).
      - In V(runbook), a different endpoint on an existing server is changed with C(PATCH).
    type: str
  server_id:
    description: Id of an existing server (instead of looking it up by O(name)).
    type: str
  status:
    description:
      - The status the server must have. V(registered) exists only in V(sark_v2).
      - When not set, a new server keeps SARK's default and an existing one keeps its status.
    type: str
    choices: [registered, active, inactive, unhealthy, decommissioned]
  tags:
    description: Tags of a new server (V(runbook) also updates them on an existing one).
    type: list
    elements: str
  owner_id:
    description: Owner of a new server (V(runbook) only; SARK 2.x makes the caller the owner).
    type: str
  description:
    description: Description of a new server (V(sark_v2) only).
    type: str
  transport:
    description: Transport of a new server (V(sark_v2) only).
    type: str
    choices: [http, stdio, sse]
    default: http
  sensitivity_level:
    description: Sensitivity of a new server (V(sark_v2) only; SARK's default is V(medium)).
    type: str
    choices: [low, medium, high, critical]
  tools:
    description: Tool definitions of a new server (V(sark_v2) only), each a dict with at least C(name).
    type: list
    elements: dict
    default: []
  metadata:
    description: Metadata of a new server (V(sark_v2) only).
    type: dict
  force:
    description: Confirms O(state=purged). Without it the module refuses and deletes nothing.
    type: bool
    default: false
  import_csv:
    description:
      - Path of a CSV file on the managed node to import, one server per line, columns as in O(csv_columns).
      - Blank lines and lines starting with C(#) are skipped.
    type: path
  csv_columns:
    description:
      - The columns of O(import_csv) when it has no header line. Known columns are C(name), C(endpoint), C(description),
        C(transport), C(sensitivity_level) and C(tags) (a JSON list or C(;)-separated); C(-) skips a column.
      - The default is the runbook's C(name,endpoint).
    type: list
    elements: str
    default: [name, endpoint]
  csv_header:
    description:
      - Whether line 1 is a header naming the columns. V(auto) treats it as one when every cell is a known column name
        (as in a file written by M(sark.ops.sark_server_info) with O(sark.ops.sark_server_info#module:export_path)).
    type: str
    choices: [auto, 'true', 'false']
    default: auto
  max_rows:
    description: The most data rows O(import_csv) may have; a longer file is refused before anything is registered.
    type: int
    default: 100000
  concurrency:
    description: How many registrations are in flight at once during an import (1-32).
    type: int
    default: 8
  max_failures:
    description:
      - An import stops sending requests after this many failures (an API that refuses everything should not be asked 10,000
        times); the rows not attempted are reported as failed. A row SARK refused counts once, and so does a bulk request
        (V(sark_v2)) that failed as a whole.
    type: int
    default: 100
  report_rows:
    description:
      - Which per-row results RV(rows) returns - V(all), V(problems) (failed rows and rows that duplicate another line), or V(none).
        RV(counts) always covers every row.
    type: str
    choices: [all, problems, none]
    default: all
  report_path:
    description: Also write every row's result to this CSV file (C(line,name,endpoint,result,reason,id)).
    type: path
extends_documentation_fragment:
  - sark.ops.api
  - sark.ops.postgres
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Looks the server (or every row of the import) up and returns what would be done in RV(planned_actions) and RV(counts);
        C(changed) is true only if something would change.
  diff_mode:
    support: full
    details:
      - Shows the server before and after; for an import, the rows that would be or were registered.
  idempotent:
    support: full
  action_group:
    description: Use C(group/sark.ops.api) (and C(group/sark.ops.postgres) for O(state=purged)) in C(module_defaults).
    support: full
    membership:
      - sark.ops.all
      - sark.ops.api
      - sark.ops.postgres
notes:
  - SARK rate-limits each user (5000 requests per hour by default). An import of more rows than that with one token is slowed
    down by HTTP 429 answers; the module honours C(Retry-After) up to O(api_retries) times per row.
  - O(state=purged) connects to O(pg_database), by default the layout's application database C(sark).
seealso:
  - module: sark.ops.sark_server_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Register a server (runbook "Register Server")
  sark.ops.sark_server:
    name: prod-server-01
    endpoint: https://prod-server-01.example.com
    tags: [production, us-west-2]

- name: Disable a compromised server (SARK 2.x; the bulk status endpoint is used)
  sark.ops.sark_server:
    layout: sark_v2
    server_id: 7f0c2d1e-4b9a-4c55-9f5e-2f1f3c7b9a10
    state: absent

- name: Hard delete, through the database
  sark.ops.sark_server:
    name: old-server
    state: purged
    force: true
    pg_host: db.example.com
    pg_user: sark

- name: Import servers.csv (name,endpoint per line), only what is missing
  sark.ops.sark_server:
    import_csv: /srv/servers.csv
    concurrency: 8
    report_rows: problems
  register: imported

- name: Show what failed
  ansible.builtin.debug:
    msg: "{{ imported.counts }} - {{ imported.rows }}"
'''

RETURN = r'''
server:
  description: The server after the run (before it, in check mode), with the same keys in both layouts; null if there is none.
  returned: without import_csv
  type: dict
  sample: {"id": "3f2c", "name": "prod-server-01", "endpoint": "https://prod-server-01.example.com", "status": "active"}
action:
  description: What was (or would be) done - V(registered), V(updated), V(status_changed), V(soft_deleted), V(purged) or V(none).
  returned: without import_csv
  type: str
  sample: registered
tools_deleted:
  description: Tools that went with a purged server (V(sark_v2)).
  returned: when state is purged
  type: int
  sample: 2
counts:
  description: Rows of the import by result (V(created) counts what would be created in check mode), plus C(rows) in all.
  returned: with import_csv
  type: dict
  sample: {"rows": 10000, "created": 9998, "unchanged": 0, "failed": 2}
rows:
  description:
    - Per-row results of the import (see O(report_rows)) - C(line) (in the file), C(name), C(endpoint), C(result)
      (V(created), V(unchanged), V(failed)), C(reason) and C(id).
  returned: with import_csv
  type: list
  elements: dict
  sample: [{"line": 7, "name": "x", "endpoint": "ftp://x", "result": "failed", "reason": "endpoint 'ftp://x' is not an http(s) URL", "id": null}]
stopped_early:
  description: Whether the import stopped after O(max_failures) failures.
  returned: with import_csv
  type: bool
  sample: false
duration_s:
  description: Seconds the import took.
  returned: with import_csv
  type: float
  sample: 4.2
planned_actions:
  description: The requests or statements that would run (check mode).
  returned: in check mode
  type: list
  elements: dict
executed_actions:
  description: The requests or statements that ran.
  returned: when not in check mode
  type: list
  elements: dict
layout:
  description: The layout used.
  returned: always
  type: str
  sample: runbook
msg:
  description: What happened, in a sentence.
  returned: always
  type: str
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

import time

from ansible_collections.sark.ops.plugins.module_utils import _postgres as pg
from ansible_collections.sark.ops.plugins.module_utils._api import SarkApiClient, api_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkOperationError,
    SarkPreconditionError,
    SarkValidationError,
    sark_main,
)
from ansible_collections.sark.ops.plugins.module_utils._postgres import postgres_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._layout import trait_values
from ansible_collections.sark.ops.plugins.module_utils._server_export import hard_delete
from ansible_collections.sark.ops.plugins.module_utils._server_import import ServerImport, read_csv_rows, validate_columns, write_report
from ansible_collections.sark.ops.plugins.module_utils._servers import ServerApi, endpoint_problem

DIFF_SAMPLE = 100
SHOWN = ("id", "name", "endpoint", "status", "tags", "owner_id", "sensitivity_level", "transport")


def shown(server):
    return {k: server.get(k) for k in SHOWN} if server else {}


def pick_one(matches, params, names_unique):
    """The one server a name (+ endpoint) names, or a clear error when it is ambiguous."""
    if len(matches) <= 1:
        return matches[0] if matches else None
    if not names_unique and not params["endpoint"]:
        raise SarkPreconditionError(
            "%d servers are named %r (SARK 2.x names are not unique): give endpoint or server_id to say which. Ids: %s"
            % (len(matches), params["name"], ", ".join(m["id"] for m in matches[:10])), matches=[shown(m) for m in matches[:10]])
    return matches[0]


def lookup(api, params):
    if params["server_id"]:
        server = api.get(params["server_id"])
        if server and params["name"] and server["name"] != params["name"]:
            raise SarkPreconditionError("Server %s is named %r, not %r: nothing was changed. Check server_id and name."
                                        % (params["server_id"], server["name"], params["name"]))
        return server
    return pick_one(api.find(params["name"], None if api.names_unique else params["endpoint"]), params, api.names_unique)


def act(module, api, step, **details):
    """Plan (check mode) or run one API step; returns what ran."""
    module.evidence.plan(step[0], **details)
    if module.check_mode:
        return None
    done = step[1]()
    module.evidence.executed(step[0], request=done, **details)
    return done


def ensure_present(module, api, server):
    params = module.params
    statuses = api.statuses()
    if params["status"] and params["status"] not in statuses:
        raise SarkValidationError("status %r does not exist in the %s layout (use one of %s)"
                                  % (params["status"], api.layout.name, ", ".join(statuses)))
    if server is None:
        if not params["name"] or not params["endpoint"] and params["transport"] == "http":
            raise SarkValidationError("Registering a server needs name and endpoint (server %s was not found)"
                                      % (params["server_id"] or params["name"]))
        fields = ("name", "endpoint", "tags", "owner_id", "description", "transport", "sensitivity_level", "tools", "metadata")
        spec = {k: params[k] for k in fields}
        after = {"name": params["name"], "endpoint": params["endpoint"], "tags": params["tags"] or [],
                 "status": params["status"] or api.default_status}
        box = {}

        def register():
            box["id"] = api.register(spec)
            return "POST %s" % api.layout.route("servers_route")
        act(module, api, ("register", register), name=params["name"], endpoint=params["endpoint"])
        if params["status"] and params["status"] != api.default_status:
            act(module, api, ("set_status", lambda: api.set_status(box["id"], params["status"])), status=params["status"])
        created = api.get(box["id"]) if box.get("id") else None
        return "registered", None, created or after
    changes = {}
    if params["endpoint"] and (server["endpoint"] or "") != params["endpoint"]:
        if not api.layout.has("server_route"):
            raise SarkPreconditionError("Server %s has endpoint %r; the SARK 2.x API cannot change an endpoint. Register a new "
                                        "server (and set this one absent) instead." % (server["id"], server["endpoint"]))
        changes["endpoint"] = params["endpoint"]
    if params["tags"] is not None and "tags" in api.fields and list(server["tags"] or []) != list(params["tags"]):
        changes["tags"] = params["tags"]
    after = dict(server)
    action = "none"
    if changes:
        act(module, api, ("update", lambda: api.update_fields(server["id"], changes)), server_id=server["id"], changes=changes)
        after.update(changes)
        action = "updated"
    if params["status"] and server["status"] != params["status"]:
        act(module, api, ("set_status", lambda: api.set_status(server["id"], params["status"])),
            server_id=server["id"], status=params["status"], before=server["status"])
        after["status"] = params["status"]
        action = "status_changed" if action == "none" else action
    return action, server, after


def ensure_absent(module, api, server):
    if server is None or server["status"] == "inactive":
        return "none", server, server
    act(module, api, ("soft_delete", lambda: api.set_status(server["id"], "inactive")), server_id=server["id"],
        before=server["status"])
    after = dict(server, status="inactive")
    return "soft_deleted", server, after


def purge(module, layout):
    params = module.params
    if not params["force"]:
        raise SarkValidationError("state=purged deletes the server row from the database for good (hard delete); set force: true "
                                  "to confirm, or use state=absent for the soft delete")
    conn = pg.connect(params, dbname=params["pg_database"] or layout.template("app_database"), module_name="sark_server")
    try:
        server_id = params["server_id"]
        if not server_id:
            table = pg.identifier(layout.template("servers_table"))
            query = pg.pgsql.SQL("SELECT id::text AS id, name, endpoint, lower(status::text) AS status FROM {} WHERE name = %s").format(table)
            args = [params["name"]]
            if params["endpoint"]:
                query = query + pg.pgsql.SQL(" AND endpoint = %s")
                args.append(params["endpoint"])
            found = pg.fetch_all(conn, query, args)
            server = pick_one(found, params, layout.traits["server_names_unique"])
            if server is None:
                return {"changed": False, "action": "none", "server": None, "msg": "No server %r in the database" % params["name"]}
            if len(found) > 1:
                raise SarkPreconditionError("%d rows are named %r: give server_id to say which one to purge" % (len(found), params["name"]))
            server_id = server["id"]
        module.evidence.plan("delete", table=layout.template("servers_table"), server_id=server_id)
        row, tools = hard_delete(conn, layout, server_id, module.check_mode, pg)
        if row is None:
            return {"changed": False, "action": "none", "server": None, "msg": "No server %s in the database" % server_id}
        if not module.check_mode:
            module.evidence.executed("delete", table=layout.template("servers_table"), server_id=server_id, tools=tools)
        result = {"changed": True, "action": "purged", "server": row, "tools_deleted": tools,
                  "msg": "%s server %s (%s) and %d tool(s) from the database" % (
                      "Would delete" if module.check_mode else "Deleted", row["id"], row["name"], tools)}
        if module.diff_mode:
            result["diff"] = {"before": row, "after": {}}
        return result
    finally:
        conn.close()


def run_import(module, api):
    params = module.params
    if not 1 <= params["concurrency"] <= 32:
        raise SarkValidationError("concurrency must be between 1 and 32, got %s" % params["concurrency"])
    if params["max_rows"] < 1 or params["max_failures"] < 1:
        raise SarkValidationError("max_rows and max_failures must be 1 or more")
    validate_columns(params["csv_columns"])
    started = time.monotonic()
    rows, columns = read_csv_rows(params["import_csv"], list(params["csv_columns"]), params["csv_header"], params["max_rows"],
                                  api.fields, params["transport"])
    job = ServerImport(api, rows, params["concurrency"], params["max_failures"])
    to_create = job.classify()
    bulk = api.layout.has("servers_bulk_register_route")
    route = api.layout.route("servers_bulk_register_route" if bulk else "servers_route")
    requests = len(job.batches(to_create)) if bulk else len(to_create)
    module.evidence.plan("register", count=len(to_create), sample=[r.name for r in to_create[:20]],
                         request="POST %s" % route, requests=requests)
    stopped = False
    if module.check_mode:
        for row in to_create:
            row.result = "created"
    elif to_create:
        stopped = job.create(to_create)
        created = sum(1 for r in to_create if r.result == "created")
        if created:
            module.evidence.executed("register", count=created, concurrency=params["concurrency"], request="POST %s" % route)
    counts = {"rows": len(rows), "created": 0, "unchanged": 0, "failed": 0}
    for row in rows:
        counts[row.result] += 1
    for name, value in counts.items():
        module.evidence.set_count(name, value)
    module.evidence.set_count("requests", api.requests)
    if params["report_path"] and not module.check_mode:
        write_report(params["report_path"], rows)
    if params["report_rows"] == "all":
        shown_rows = [r.as_dict() for r in rows]
    elif params["report_rows"] == "problems":
        shown_rows = [r.as_dict() for r in rows if r.result == "failed" or r.reason]
    else:
        shown_rows = []
    verb = "Would register" if module.check_mode else "Registered"
    result = {"changed": counts["created"] > 0, "counts": counts, "rows": shown_rows, "stopped_early": stopped,
              "columns": columns, "duration_s": round(time.monotonic() - started, 3),
              "msg": "%s %d of %d row(s); %d already there, %d failed" % (verb, counts["created"], counts["rows"],
                                                                          counts["unchanged"], counts["failed"])}
    if module.diff_mode:
        created = [r for r in rows if r.result == "created"]
        lines = ["%s,%s" % (r.name, r.endpoint or "") for r in created[:DIFF_SAMPLE]]
        if len(created) > DIFF_SAMPLE:
            lines.append("... and %d more" % (len(created) - DIFF_SAMPLE))
        result["diff"] = {"before": "", "after": "\n".join(lines) + ("\n" if lines else ""),
                          "after_header": "servers registered from %s" % params["import_csv"]}
    api_failed = sum(1 for r in rows if r.result == "failed" and r.api_error)
    nothing_done = counts["rows"] > 0 and counts["created"] + counts["unchanged"] == 0
    if api_failed or nothing_done:
        # a run that SARK failed (even in part), or that achieved none of what was asked, is a failed task: the
        # per-row results stay in the result, and a rerun registers only what is still missing
        why = ("SARK failed %d row(s)" % api_failed) if api_failed else "no row could be imported"
        details = {k: v for k, v in result.items() if k not in ("msg", "changed")}
        raise SarkOperationError("Import of %s failed: %s. %s; see rows (result=failed) for the line numbers and reasons%s."
                                 % (params["import_csv"], why, result["msg"],
                                    "; rerun the same import when SARK is healthy: it registers only what is missing"
                                    if api_failed else ""), **details)
    if counts["failed"]:
        module.warn("%d row(s) of %s failed; see rows (result=failed) for the line numbers and reasons" % (counts["failed"], params["import_csv"]))
    return result


def run(module):
    params = module.params
    layout = Layout.from_params(params)
    if params["import_csv"]:
        if params["name"] or params["server_id"]:
            raise SarkValidationError("import_csv imports a file: do not combine it with name or server_id")
        # kept-alive connections are per worker thread and close when the threads end: nothing to release here
        result = run_import(module, ServerApi(SarkApiClient(params), layout, bulk=True))
    elif not (params["name"] or params["server_id"]):
        raise SarkValidationError("Give name (and endpoint), server_id, or import_csv")
    elif params["endpoint"] is not None and endpoint_problem(params["endpoint"].strip()):
        # the same rule as every row of an import
        raise SarkValidationError("%s: nothing was changed. Give the server's http(s) URL." % endpoint_problem(params["endpoint"].strip()))
    elif params["state"] == "purged":
        result = purge(module, layout)
    else:
        api = ServerApi(SarkApiClient(params), layout)
        server = lookup(api, params)
        if params["state"] == "present":
            action, before, after = ensure_present(module, api, server)
        else:
            action, before, after = ensure_absent(module, api, server)
        result = {"changed": action != "none", "action": action, "server": (before if module.check_mode else after) or after}
        if module.diff_mode and action != "none":
            result["diff"] = {"before": shown(before), "after": shown(after)}
        what = params["name"] or params["server_id"]
        if action == "none":
            result["msg"] = "Server %s is already %s" % (what, "absent (inactive or unknown)" if params["state"] == "absent" else "as asked")
        else:
            result["msg"] = "%s server %s: %s" % ("Would change" if module.check_mode else "Changed", what, action)
        module.evidence.set_count("requests", api.requests)
    result["layout"] = layout.name
    result.update(module.actions())
    return result


def main():
    spec = dict(
        state=dict(type="str", choices=["present", "absent", "purged"], default="present"),
        name=dict(type="str"),
        endpoint=dict(type="str"),
        server_id=dict(type="str"),
        status=dict(type="str", choices=sorted({s for values in trait_values("server_statuses").values() for s in values})),
        tags=dict(type="list", elements="str"),
        owner_id=dict(type="str"),
        description=dict(type="str"),
        transport=dict(type="str", choices=["http", "stdio", "sse"], default="http"),
        sensitivity_level=dict(type="str", choices=["low", "medium", "high", "critical"]),
        tools=dict(type="list", elements="dict", default=[]),
        metadata=dict(type="dict"),
        force=dict(type="bool", default=False),
        import_csv=dict(type="path"),
        csv_columns=dict(type="list", elements="str", default=["name", "endpoint"]),
        csv_header=dict(type="str", choices=["auto", "true", "false"], default="auto"),
        max_rows=dict(type="int", default=100000),
        concurrency=dict(type="int", default=8),
        max_failures=dict(type="int", default=100),
        report_rows=dict(type="str", choices=["all", "problems", "none"], default="all"),
        report_path=dict(type="path"),
    )
    sark_main(run, spec, (api_argument_spec, postgres_argument_spec, layout_argument_spec),
              mutually_exclusive=[("import_csv", "server_id")])


if __name__ == "__main__":
    main()
