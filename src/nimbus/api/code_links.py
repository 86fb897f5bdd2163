"""Code.Location: short-lived, signed download links for deployment packages (as AWS presigns S3 URLs)."""

from __future__ import annotations

import hashlib
import hmac
import time

LINK_LIFETIME = 600  # seconds; AWS's presigned URL is valid for 10 minutes


def signed_link(base_url: str, secret: bytes, sha256_hex: str, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + LINK_LIFETIME)
    return f"{base_url}/_nimbus/code/{sha256_hex}?expires={expires}&signature={_sign(secret, sha256_hex, expires)}"


def link_is_valid(secret: bytes, sha256_hex: str, expires: str, signature: str, now: float | None = None) -> bool:
    if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(_sign(secret, sha256_hex, int(expires)), signature)


def _sign(secret: bytes, sha256_hex: str, expires: int) -> str:
    return hmac.new(secret, f"{sha256_hex}:{expires}".encode(), hashlib.sha256).hexdigest()
