"""The API key: stored as a SHA-256 digest, compared in constant time.

Write endpoints depend on :func:`require_write_key`. With no key configured
they answer 503 (disabled, not open); a missing key is 401, a wrong one 401.
Keys travel in the ``X-API-Key`` header (or ``Authorization: Bearer <key>``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

__all__ = ["API_KEY_HEADER", "hash_key", "is_loopback", "require_write_key", "verify_key"]

API_KEY_HEADER = "X-API-Key"
_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="The write API key (its SHA-256 is `api.api_key_sha256`).",
)


def hash_key(key: str) -> str:
    """Return the hex SHA-256 of ``key`` (what ``api.api_key_sha256`` stores)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def verify_key(presented: str, stored_sha256: str) -> bool:
    """Whether ``presented`` hashes to ``stored_sha256``, compared in constant time."""
    return hmac.compare_digest(hash_key(presented), stored_sha256.strip().lower())


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost`` or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_write_key(
    request: Request, key: Annotated[str | None, Depends(_header)] = None
) -> None:
    """FastAPI dependency guarding every write endpoint.

    Raises
    ------
    fastapi.HTTPException
        503 when no key is configured, 401 when the key is missing or wrong.
    """
    stored = request.app.state.contimg.settings.api.api_key_sha256
    if not stored:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "write endpoints are disabled: no API key is configured "
            "(set api.api_key_sha256 to the SHA-256 of a key)",
        )
    if key is None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing API key: send it in the {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    if not verify_key(key, stored):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong API key", headers={"WWW-Authenticate": "ApiKey"}
        )
