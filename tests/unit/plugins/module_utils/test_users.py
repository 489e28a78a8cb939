# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _users.py: the argon2id helpers and the users table read from the layout's columns."""

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout
from ansible_collections.sark.ops.plugins.module_utils._users import USER_FIELDS, hash_password, password_matches, select_list


def test_argon2id_parameters():
    digest = hash_password("s3cret!")
    assert digest.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert password_matches(digest, "s3cret!") and not password_matches(digest, "other") and not password_matches(None, "x")


def test_select_list_reads_what_the_layout_has_and_null_for_the_rest():
    runbook = select_list(Layout("runbook"))
    assert runbook == ("id::text AS id, username, email, NULL AS full_name, is_active, is_admin, roles, NULL AS role, "
                       "rate_limit_per_minute, created_at")
    v2 = select_list(Layout("sark_v2"))
    assert v2 == ("id::text AS id, NULL AS username, email, full_name, is_active, is_admin, NULL AS roles, role, "
                  "NULL::integer AS rate_limit_per_minute, created_at")
    # never the password hash, whatever the layout calls it
    for name in ("runbook", "sark_v2"):
        text = select_list(Layout(name))
        assert Layout(name).traits["user_password_column"] not in text and len(text.split(", ")) == len(USER_FIELDS)
