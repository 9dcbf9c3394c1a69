"""API tokens: random secrets shown once, stored only as their sha256, compared in constant time."""

import hashlib
import hmac
import secrets


def new_token() -> str:
    """A fresh 256-bit URL-safe token."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    # Constant-time compare so response timing does not leak how much of a hash matched.
    return hmac.compare_digest(hash_token(token), stored_hash)
