# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    # Matches plugins/module_utils/_redis_keys.py sweep_argument_spec() (max_keys is documented per module)
    DOCUMENTATION = r'''
options:
  scan_count:
    description:
      - The C(COUNT) hint of each C(SCAN) page. When not set, 100 inside server-side scripts (small pages are cheaper per
        key there) and 1000 for the client engine (fewer round trips).
    type: int
  max_block_ms:
    description:
      - How long one server-side batch (a Lua script that scans pages and unlinks what it found) may run before it hands back
        to other clients. The worst extra latency other clients see is about this plus one page.
    type: float
    default: 4.0
  engine:
    description:
      - V(script) runs each batch as a server-side Lua script (keys never leave Redis); V(client) scans and unlinks from the
        module. V(auto) uses scripts when the Redis user may load them and falls back to V(client) otherwise.
    type: str
    choices: [auto, script, client]
    default: auto
  sample_size:
    description: How many key names (masked) to return as a sample of what was or would be removed.
    type: int
    default: 10
notes:
  - Keys are found with C(SCAN), never C(KEYS), on every primary of a cluster, and removed with C(UNLINK) in bounded batches.
  - A sweep needs a literal prefix before its first wildcard (C(*:*) or a template such as C({user_id}:{session_id}) is
    refused), and where the layout knows a key's type it removes only keys of that type (C(SCAN ... TYPE)). A user's sweep
    matches that user's keys only (glob characters in ids are taken literally; C(alice) never matches C(alice:admin)).
  - Each removed batch is recorded in the evidence as it happens, so a failure after partial work (the cap, a lost connection)
    reports C(changed), C(partial) and how many keys had gone; a rerun removes the rest.
'''
