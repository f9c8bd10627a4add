"""API token keys: generation, keyed hashing and lookup.

A key is `<prefix>.<secret>`. The prefix is stored in clear to find the row; the whole
key is stored only as HMAC-SHA256 under a key derived from SECRET_KEY (keys signed with
an entry of SECRET_KEY_FALLBACKS keep working while a secret is rotated).
"""

from __future__ import annotations

import hmac
import secrets

from django.conf import settings
from django.utils.crypto import salted_hmac

from accounts.models import ApiToken

SALT = "attache.accounts.api-token"
PREFIX_BYTES = 6  # 8 url-safe characters
SECRET_BYTES = 32


def generate_key() -> tuple[str, str]:
    """A new (prefix, key) pair; the key is shown once and never stored."""
    prefix = secrets.token_urlsafe(PREFIX_BYTES).replace("-", "a").replace("_", "b")
    return prefix, f"{prefix}.{secrets.token_urlsafe(SECRET_BYTES)}"


def digest(key: str, *, secret: str | None = None) -> str:
    return salted_hmac(SALT, key, secret=secret or settings.SECRET_KEY, algorithm="sha256").hexdigest()


def _matches(token: ApiToken, key: str) -> bool:
    secrets_to_try = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(hmac.compare_digest(token.digest, digest(key, secret=secret)) for secret in secrets_to_try)


def find_token(key: str) -> ApiToken | None:
    """The token whose key this is (usable or not), or None for a key we never issued."""
    prefix, dot, _ = key.partition(".")
    if not dot or not prefix or len(key) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not _matches(token, key):
        return None
    return token
