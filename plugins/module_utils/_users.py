# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SARK users through the API (runbook layout only) or the database (both layouts) (private).

- ``runbook``: ``users(id, username, email, password_hash, is_active, is_admin, roles text[], ...)``; identity is the
  username; ``GET/POST /api/v1/users``, ``PATCH /api/v1/users/{id}``.
- ``sark_v2``: ``users(id uuid, email unique, full_name, hashed_password, is_active, is_admin, role, ...)``; identity
  is the email; no users API.

Password hashes never leave this file: users are returned without them, and hashing/verification use
argon2id with the runbook's parameters (m=65536, t=3, p=4).
"""

import re
import traceback
import uuid

from ansible_collections.sark.ops.plugins.module_utils._module import SarkDependencyError, SarkOperationError, SarkValidationError

ARGON2_IMPORT_ERROR = None
try:
    from argon2 import PasswordHasher, Type
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
except ImportError:
    ARGON2_IMPORT_ERROR = traceback.format_exc()
    PasswordHasher = None

ARGON2_PARAMS = {"memory_cost": 65536, "time_cost": 3, "parallelism": 4}
# what a user looks like in both layouts; a column the layout lacks reads as NULL
USER_FIELDS = ("id", "username", "email", "full_name", "is_active", "is_admin", "roles", "role", "rate_limit_per_minute",
               "created_at")
# how a present column is read, and what a missing one reads as (a typed NULL where the type matters to a reader)
PRESENT = {"id": "id::text"}
MISSING = {"rate_limit_per_minute": "NULL::integer"}


def select_list(layout):
    """The SELECT list of the layout's users table, one column per USER_FIELDS entry (NULL where it has none)."""
    have = layout.columns("users_table")
    out = []
    for field in USER_FIELDS:
        expr = PRESENT.get(field, field) if field in have else MISSING.get(field, "NULL")
        out.append(field if expr == field else "%s AS %s" % (expr, field))
    return ", ".join(out)


# the WHATWG (HTML) definition of a valid e-mail address: no spaces, quotes, semicolons, commas or backslashes
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
ROLE_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
MAX_EMAIL = 254
MAX_USERNAME = 255
MAX_ROLE = 50


def _shown(value):
    """A bad value for an error message: repr, cut short (it may be long or hold control characters)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_email(email, option="email"):
    if not isinstance(email, str) or len(email) > MAX_EMAIL or not EMAIL_RE.match(email):
        raise SarkValidationError("%s %s is not a valid e-mail address (name@domain.tld, at most %d characters, no spaces, "
                                  "quotes, semicolons or commas); nothing was changed" % (option, _shown(email), MAX_EMAIL))
    return email


def validate_username(name, option="name"):
    if not isinstance(name, str) or len(name) > MAX_USERNAME or not USERNAME_RE.match(name):
        raise SarkValidationError("%s %s is not a valid username: use letters, digits and . _ @ + - (starting with a letter or "
                                  "digit, at most %d characters); nothing was changed" % (option, _shown(name), MAX_USERNAME))
    return name


def validate_role(role, option="role"):
    if not isinstance(role, str) or len(role) > MAX_ROLE or not ROLE_RE.match(role):
        raise SarkValidationError("%s %s is not a valid role name: lower-case letters, digits, _ and - (starting with a letter, "
                                  "at most %d characters); nothing was changed" % (option, _shown(role), MAX_ROLE))
    return role


def escape_like(text):
    """text as a literal inside a LIKE pattern (the default escape character is the backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def hasher():
    if ARGON2_IMPORT_ERROR is not None:
        raise SarkDependencyError("argon2-cffi", ARGON2_IMPORT_ERROR, reason="to hash passwords (argon2id)")
    return PasswordHasher(type=Type.ID, **ARGON2_PARAMS)


def hash_password(password):
    return hasher().hash(password)


def password_matches(stored_hash, password):
    """True when stored_hash is a hash of password (a missing or foreign hash never matches)."""
    if not stored_hash:
        return False
    try:
        return hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def shape(row, roles_shape):
    """One user with the same keys in both layouts, never with a password hash (roles_shape: the layout's user_roles)."""
    user = {k: row.get(k) for k in ("id", "username", "email", "full_name", "is_active", "is_admin", "role", "rate_limit_per_minute")}
    user["roles"] = list(row.get("roles") or ([row["role"]] if row.get("role") else []))
    if roles_shape == "list":
        user["role"] = None
    created = row.get("created_at")
    user["created_at"] = created.isoformat() if hasattr(created, "isoformat") else created
    return user


class DbUsers:
    """The users table of one layout."""

    def __init__(self, conn, layout, pg):
        self.conn = conn
        self.layout = layout
        self.roles_shape = layout.traits.get("user_roles")
        self.pg = pg
        self.cols = {"key": layout.traits["user_identity"], "hash": layout.traits["user_password_column"],
                     "select": select_list(layout)}
        self.table = pg.identifier(layout.template("users_table"))

    def list(self, search=None, active=None, admin=None, role=None, limit=1000):
        sql = self.pg.pgsql.SQL("SELECT " + self.cols["select"] + " FROM {}").format(self.table)
        where, args = [], []
        if search:
            other = "username" if self.layout.traits.get("user_identity") == "username" else "coalesce(full_name, '')"
            where.append("(coalesce(email, '') ILIKE %s OR " + other + " ILIKE %s)")
            args += ["%" + escape_like(search) + "%"] * 2
        if active is not None:
            where.append("is_active = %s")
            args.append(active)
        if admin is not None:
            where.append("is_admin = %s")
            args.append(admin)
        if role:
            where.append("%s = ANY(roles)" if self.roles_shape == "list" else "role = %s")
            args.append(role)
        if where:
            sql = sql + self.pg.pgsql.SQL(" WHERE " + " AND ".join(where))
        sql = sql + self.pg.pgsql.SQL(" ORDER BY created_at DESC, id LIMIT %s")
        return [shape(r, self.roles_shape) for r in self.pg.fetch_all(self.conn, sql, args + [limit])]

    def find(self, key=None, user_id=None):
        """(user, password hash) by identity (username or email) or id; (None, None) when unknown."""
        column = "id::text" if user_id else self.cols["key"]
        sql = self.pg.pgsql.SQL("SELECT " + self.cols["select"] + ", " + self.cols["hash"] + " AS pw FROM {} WHERE "
                                + column + " = %s").format(self.table)
        row = self.pg.fetch_one(self.conn, sql, (user_id or key,))
        if row is None:
            return None, None
        return shape(row, self.roles_shape), row.get("pw")

    def roles_in_use(self):
        """Every role some user has (bounded: distinct values of one column)."""
        sql = "SELECT DISTINCT r FROM {}, unnest(roles) AS r LIMIT 1000" if self.layout.traits.get("user_roles") == "list" \
            else "SELECT DISTINCT role AS r FROM {} WHERE role IS NOT NULL LIMIT 1000"
        return {row["r"] for row in self.pg.fetch_all(self.conn, self.pg.pgsql.SQL(sql).format(self.table))}

    def create(self, fields, password_hash):
        pgsql = self.pg.pgsql
        if self.layout.traits.get("user_identity") == "username":
            values = {"username": fields["username"], "email": fields.get("email"), "password_hash": password_hash,
                      "is_active": fields.get("is_active", True), "is_admin": bool(fields.get("is_admin")),
                      "roles": fields.get("roles") or ["user"]}
        else:
            values = {"id": str(uuid.uuid4()), "email": fields["email"], "full_name": fields.get("full_name"),
                      "hashed_password": password_hash, "is_active": fields.get("is_active", True),
                      "is_admin": bool(fields.get("is_admin")), "role": fields.get("role") or "developer"}
        placeholders = [pgsql.Placeholder() for _k in values]
        names = list(values)
        if self.layout.traits.get("users_orm_columns"):
            # what SARK's ORM fills in itself: these columns have no database default
            names += ["extra_metadata", "created_at", "updated_at"]
            placeholders += [pgsql.SQL("'{}'::json"), pgsql.SQL("now()"), pgsql.SQL("now()")]
        sql = pgsql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id::text").format(
            self.table, pgsql.SQL(", ").join(pgsql.Identifier(k) for k in names), pgsql.SQL(", ").join(placeholders))
        return self.pg.fetch_value(self.conn, sql, list(values.values()))

    def update(self, user_id, changes, password_hash=None):
        pgsql = self.pg.pgsql
        columns = dict(changes)
        columns.pop("roles", None) if self.layout.traits.get("user_roles") == "single" else columns.pop("role", None)
        if password_hash:
            columns[self.cols["hash"]] = password_hash
        if not columns:
            return
        assignments = [pgsql.SQL("{} = %s").format(pgsql.Identifier(k)) for k in columns]
        if self.layout.traits.get("users_orm_columns"):
            # SARK's ORM sets updated_at on every update (onupdate); a write by SQL must do the same
            assignments.append(pgsql.SQL("{} = now()").format(pgsql.Identifier("updated_at")))
        sql = pgsql.SQL("UPDATE {} SET {} WHERE id::text = %s").format(self.table, pgsql.SQL(", ").join(assignments))
        with self.conn.cursor() as cur:
            cur.execute(sql, list(columns.values()) + [user_id])

    def delete(self, user_id):
        """Remove the row for good. Rows that still reference the user (servers, API keys) make this fail, unchanged."""
        sql = self.pg.pgsql.SQL("DELETE FROM {} WHERE id::text = %s").format(self.table)
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, (user_id,))
                return cur.rowcount
        except self.pg.psycopg_errors() as exc:
            raise SarkOperationError("Deleting user %s failed, nothing was deleted: %s. Other rows still reference the user "
                                     "(servers it owns, API keys): disable it with state=absent instead, or remove those first."
                                     % (user_id, str(exc).strip().splitlines()[0])) from exc


class ApiUsers:
    """The users API of the runbook layout."""

    def __init__(self, client, layout):
        if not layout.has("users_route"):
            raise SarkValidationError("via=api: %s. Use via=database (with the pg_* options) for this deployment."
                                      % layout.absent_reason("users_route"))
        self.client = client
        self.layout = layout
        self.roles_shape = layout.traits.get("user_roles")

    def list(self, search=None, active=None, admin=None, role=None, limit=1000):
        query = {"search": search, "role": role, "limit": min(limit, 1000),
                 "is_active": None if active is None else str(active).lower()}
        body = self.client.request("GET", self.layout.route("users_route"), query=query).json() or {}
        users = [shape(u, self.roles_shape) for u in body.get("users") or []]
        return [u for u in users if admin is None or u["is_admin"] == admin]

    def find(self, key=None, user_id=None):
        if user_id:
            try:
                return shape(self.client.request("GET", self.layout.route("user_route", user_id=user_id)).json(), self.roles_shape), None
            except Exception as exc:  # pylint: disable=broad-except
                if getattr(exc, "status", None) == 404:
                    return None, None
                raise
        for user in self.list(search=key):
            if user["username"] == key:
                return user, None
        return None, None

    def roles_in_use(self):
        return {role for user in self.list(limit=1000) for role in user["roles"]}

    def create(self, fields, password):
        body = {"username": fields["username"], "email": fields.get("email"), "password": password,
                "roles": fields.get("roles") or ["user"]}
        if fields.get("is_admin") is not None:
            body["is_admin"] = fields["is_admin"]
        created = self.client.request("POST", self.layout.route("users_route"), json_body=body, expect=(200, 201)).json()
        if fields.get("is_active") is False:
            self.update(created["id"], {"is_active": False})
        return created["id"]

    def update(self, user_id, changes, password=None):
        body = {k: v for k, v in changes.items() if k in ("is_active", "roles", "email", "is_admin", "rate_limit_per_minute")}
        if password:
            body["password"] = password
        if body:
            self.client.request("PATCH", self.layout.route("user_route", user_id=user_id), json_body=body)
