"""JWT bearer tokens, CSRF double-submit pairs and password hashing as SARK uses them."""

import base64
import collections
import hashlib
import hmac
import os
import secrets
import threading
import time

import jwt

ALGORITHM = "HS256"
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_MIN_LENGTH = 32
# argon2id parameters the runbook documents: $argon2id$v=19$m=65536,t=3,p=4$...
ARGON2_PARAMS = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}


class AuthError(Exception):
    """A bearer token that must be refused with 401; str() is the detail shown to the client."""


def make_token(secret, sub, is_admin=True, ttl=3600, **claims):
    """An HS256 access token for `sub`; a negative ttl gives an already expired token."""
    now = int(time.time())
    payload = {"sub": str(sub), "iat": now, "exp": now + int(ttl), "type": "access",
               "is_admin": bool(is_admin), "role": "admin" if is_admin else "developer",
               "roles": ["user", "admin"] if is_admin else ["user"]}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_token(secret, token):
    """Verified claims of a token, or AuthError naming why it is refused."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("Token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError("Could not validate credentials") from exc
    if not claims.get("sub"):
        raise AuthError("Could not validate credentials")
    return claims


class TokenCache:
    """Claims of recently verified tokens, so a client's repeated token is not re-verified per request.

    PyJWT's HMAC key preparation costs more than the rest of a request's auth; the cache keys on the
    full token string (so the signature was checked once) and still refuses a token once `exp` passes.
    """

    def __init__(self, secret, size=4096):
        self.secret = secret
        self.size = size
        self._claims = collections.OrderedDict()
        self._lock = threading.Lock()

    def decode(self, token):
        with self._lock:
            claims = self._claims.get(token)
            if claims is not None:
                self._claims.move_to_end(token)
        if claims is not None:
            if claims["exp"] <= time.time():
                raise AuthError("Token has expired")
            return claims
        claims = decode_token(self.secret, token)
        with self._lock:
            self._claims[token] = claims
            if len(self._claims) > self.size:
                self._claims.popitem(last=False)
        return claims


def bearer_token(authorization):
    """The token of an `Authorization: Bearer ...` header value, else None."""
    if not authorization:
        return None
    scheme, _sep, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def claims_are_admin(claims):
    roles = claims.get("roles") or []
    return claims.get("is_admin") is True or claims.get("role") in ("admin", "administrator") or "admin" in roles


def new_csrf_token():
    """A fresh random value for the csrf_token cookie and the X-CSRF-Token header (43 chars)."""
    return secrets.token_urlsafe(32)


def csrf_headers(token=None):
    """Headers carrying one CSRF double-submit pair (cookie and header with the same value)."""
    token = token or new_csrf_token()
    return {CSRF_HEADER: token, "Cookie": "%s=%s" % (CSRF_COOKIE, token)}


def csrf_pair_valid(header_value, cookie_value):
    if not header_value or not cookie_value or len(header_value) < CSRF_MIN_LENGTH:
        return False
    return hmac.compare_digest(header_value.encode("utf-8"), cookie_value.encode("utf-8"))


def hash_password(password):
    """argon2id with the runbook's parameters when argon2-cffi is importable, else PBKDF2 (clearly marked)."""
    try:
        from argon2 import PasswordHasher  # pylint: disable=import-outside-toplevel
    except ImportError:
        salt = os.urandom(16)
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, 200000)
        return "$pbkdf2-sha256$200000$%s$%s" % (base64.b64encode(salt).decode("ascii").rstrip("="),
                                                base64.b64encode(digest).decode("ascii").rstrip("="))
    return PasswordHasher(**ARGON2_PARAMS).hash(password)
