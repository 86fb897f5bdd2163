"""SigV4 verification of incoming requests (AWS4-HMAC-SHA256), recomputed from the raw request as the client signed it.

Today one principal exists, the root key pair; `secret_for` is the seam where more principals (and IAM-style
policies) attach later. Errors are AWS's: MissingAuthenticationTokenException, IncompleteSignatureException,
UnrecognizedClientException, InvalidSignatureException (including "Signature expired").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, quote

from nimbus.errors import AuthError

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
    r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})"
)
MAX_SKEW = dt.timedelta(minutes=5)
_SKEW_S = MAX_SKEW.total_seconds()
SERVICE = "lambda"  # the signing name in the model; clients sign every request for it
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class Principal:
    access_key_id: str
    region: str


@dataclass(frozen=True)
class SignedRequest:
    method: str
    raw_path: str  # exactly as on the wire, still percent-encoded
    raw_query: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


SecretLookup = Callable[[str], str | None]


def verify(request: SignedRequest, secret_for: SecretLookup, now: dt.datetime | None = None) -> Principal:
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise AuthError("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _AUTH.fullmatch(header)
    amz_date = request.headers.get("x-amz-date", "")
    if match is None or not amz_date:
        raise AuthError(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature', 'SignedHeaders' and an X-Amz-Date header.",
            status=400,
        )
    key_id, date, region, service, signed, signature = match.groups()
    _check_scope(amz_date, date, service, signed)
    _check_clock(amz_date, now)
    secret = secret_for(key_id)
    if secret is None:
        raise AuthError("UnrecognizedClientException", "The security token included in the request is invalid.")
    payload_hash = _payload_hash(request)
    canonical = "\n".join([
        request.method.upper(), _canonical_uri(request.raw_path), _canonical_query(request.raw_query),
        "".join(f"{n}:{' '.join(request.headers.get(n, '').split())}\n" for n in signed.split(";")),
        signed, payload_hash,
    ])  # fmt: skip
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _signing_key(secret, date, region, service)
    # The one-shot C HMAC: hmac.new() builds a Python object around two hash copies for a single use.
    expected = hmac.digest(key, to_sign.encode(), "sha256").hex()
    if not hmac.compare_digest(expected, signature):
        raise AuthError("InvalidSignatureException", _BAD_SIGNATURE)
    return Principal(key_id, region)


def _check_scope(amz_date: str, date: str, service: str, signed: str) -> None:
    if "host" not in signed.split(";"):
        raise AuthError(
            "IncompleteSignatureException",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            400,
        )
    if service != SERVICE:
        raise AuthError("InvalidSignatureException", f"Credential should be scoped to correct service: '{SERVICE}'.")
    if amz_date[:8] != date:
        raise AuthError(
            "InvalidSignatureException",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{date}' != '{amz_date[:8]}', from '{amz_date}'.",
        )


@lru_cache(maxsize=128)
def _parse_amz_date(amz_date: str) -> float | None:
    # strptime costs several microseconds a request; clients sign many requests within the same second.
    try:
        return dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def _check_clock(amz_date: str, now: dt.datetime | None) -> None:
    signed_at = _parse_amz_date(amz_date)
    if signed_at is None:
        raise AuthError("IncompleteSignatureException", f"Invalid X-Amz-Date: {amz_date}", 400)
    # Seconds since the epoch on the hot path; datetimes only to word an error.
    now_s = time.time() if now is None else now.timestamp()
    if now_s - _SKEW_S <= signed_at <= now_s + _SKEW_S:
        return
    current = dt.datetime.fromtimestamp(now_s, dt.UTC)
    fmt = "%Y%m%dT%H%M%SZ"
    if signed_at < now_s - _SKEW_S:
        raise AuthError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {(current - MAX_SKEW).strftime(fmt)} "
            f"({current.strftime(fmt)} - 5 min.)",
        )
    raise AuthError(
        "InvalidSignatureException",
        f"Signature not yet current: {amz_date} is still later than {(current + MAX_SKEW).strftime(fmt)} "
        f"({current.strftime(fmt)} + 5 min.)",
    )


def _payload_hash(request: SignedRequest) -> str:
    body_hash = hashlib.sha256(request.body).hexdigest()
    claimed = request.headers.get("x-amz-content-sha256")
    if claimed and claimed not in ("UNSIGNED-PAYLOAD", body_hash):
        raise AuthError("InvalidSignatureException", _BAD_SIGNATURE)
    return claimed or body_hash


@lru_cache(maxsize=1024)
def _canonical_uri(raw_path: str) -> str:
    # Cached: a client calls the same few paths (one per function and operation) over and over.
    # Non-S3 rule: normalise dot segments, then percent-encode the already-encoded path a second time.
    out: list[str] = []
    for segment in raw_path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    path = "/" + "/".join(out) + ("/" if raw_path.endswith("/") and out else "")
    return quote(path, safe="/~")


def _canonical_query(raw_query: str) -> str:
    if not raw_query:
        return ""  # Invoke and most calls carry no query
    pairs = [(quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in parse_qsl(raw_query, keep_blank_values=True)]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


@lru_cache(maxsize=64)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
