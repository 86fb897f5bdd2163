"""SigV4 verification against requests signed by botocore itself."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from nimbus.api.auth import SignedRequest, verify
from nimbus.errors import AuthError

HOST = "127.0.0.1:9009"
SECRETS = {"AKID": "secret"}


def _signed(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    secret: str = "secret",
    key: str = "AKID",
    service: str = "lambda",
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> SignedRequest:
    """What the server receives for a request botocore signs now (it always signs with the current time)."""
    request = AWSRequest(method=method, url=f"http://{HOST}{url}", data=body, headers=headers or {})
    SigV4Auth(Credentials(key, secret, token), service, "us-east-1").add_auth(request)
    parts = urlsplit(url)
    received = {k.lower(): v for k, v in request.headers.items()}
    received["host"] = HOST
    return SignedRequest(method, parts.path, parts.query, received, body)


def _signed_at(request: SignedRequest) -> dt.datetime:
    return dt.datetime.strptime(request.headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def _accepted(request: SignedRequest, skew: dt.timedelta = dt.timedelta(0)) -> None:
    """Verify as a server whose clock is `skew` ahead of the signer's."""
    verify(request, SECRETS.get, now=_signed_at(request) + skew)


def _refused(request: SignedRequest, skew: dt.timedelta = dt.timedelta(0)) -> AuthError:
    with pytest.raises(AuthError) as caught:
        _accepted(request, skew)
    return caught.value


def test_a_botocore_signed_request_verifies() -> None:
    request = _signed("GET", "/2016-08-19/account-settings")
    principal = verify(request, SECRETS.get, now=_signed_at(request))
    assert principal.access_key_id == "AKID"
    assert principal.region == "us-east-1"


def test_a_json_body_is_part_of_the_signature() -> None:
    body = b'{"FunctionName":"f"}'
    _accepted(_signed("POST", "/2015-03-31/functions", body, headers={"Content-Type": "application/json"}))


def test_a_tampered_body_is_refused() -> None:
    request = _signed("POST", "/2015-03-31/functions", b'{"FunctionName":"f"}')
    tampered = SignedRequest(request.method, request.raw_path, request.raw_query, request.headers, b'{"x":1}')
    assert _refused(tampered).code == "InvalidSignatureException"


def test_an_arn_in_the_path_verifies_percent_encoded() -> None:
    path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af1%3A%24LATEST/invocations"
    _accepted(_signed("POST", path, b"{}"))


def test_repeated_query_keys_verify() -> None:
    arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af1"
    _accepted(_signed("DELETE", f"/2017-03-31/tags/{arn}?tagKeys=b&tagKeys=a"))


def test_query_values_with_reserved_characters_verify() -> None:
    _accepted(_signed("GET", "/2015-03-31/functions?Marker=a%2Fb%2Bc%3Dd%20e&MaxItems=5"))


def test_session_credentials_verify() -> None:
    _accepted(_signed("GET", "/2016-08-19/account-settings", token="session-token"))


def test_a_wrong_secret_is_an_invalid_signature() -> None:
    error = _refused(_signed("GET", "/2016-08-19/account-settings", secret="wrong"))
    assert (error.code, error.status) == ("InvalidSignatureException", 403)
    assert error.message.startswith("The request signature we calculated does not match the signature you provided.")


def test_an_unknown_key_is_an_unrecognized_client() -> None:
    error = _refused(_signed("GET", "/2016-08-19/account-settings", key="OTHER"))
    assert (error.code, error.status) == ("UnrecognizedClientException", 403)
    assert error.message == "The security token included in the request is invalid."


def test_a_missing_authorization_header_is_403() -> None:
    request = SignedRequest("GET", "/2016-08-19/account-settings", "", {"host": HOST}, b"")
    with pytest.raises(AuthError) as caught:
        verify(request, SECRETS.get)
    assert (caught.value.code, caught.value.status) == ("MissingAuthenticationTokenException", 403)


def test_a_malformed_authorization_header_is_an_incomplete_signature() -> None:
    headers = {"host": HOST, "authorization": "AWS4-HMAC-SHA256 garbage", "x-amz-date": "20261123T171702Z"}
    with pytest.raises(AuthError) as caught:
        verify(SignedRequest("GET", "/", "", headers, b""), SECRETS.get)
    assert caught.value.code == "IncompleteSignatureException"


def test_an_old_signature_has_expired() -> None:
    request = _signed("GET", "/2016-08-19/account-settings")
    error = _refused(request, skew=dt.timedelta(minutes=6))
    assert (error.code, error.status) == ("InvalidSignatureException", 403)
    fmt = "%Y%m%dT%H%M%SZ"
    signed_at = _signed_at(request)
    now = signed_at + dt.timedelta(minutes=6)
    assert error.message == (
        f"Signature expired: {signed_at.strftime(fmt)} is now earlier than "
        f"{(now - dt.timedelta(minutes=5)).strftime(fmt)} ({now.strftime(fmt)} - 5 min.)"
    )


def test_a_signature_from_the_future_is_not_yet_current() -> None:
    error = _refused(_signed("GET", "/2016-08-19/account-settings"), skew=-dt.timedelta(minutes=6))
    assert error.message.startswith("Signature not yet current: ")


def test_a_clock_skew_within_five_minutes_is_accepted() -> None:
    _accepted(_signed("GET", "/2016-08-19/account-settings"), skew=dt.timedelta(minutes=4))
    _accepted(_signed("GET", "/2016-08-19/account-settings"), skew=-dt.timedelta(minutes=4))


def test_a_signature_for_another_service_is_refused() -> None:
    error = _refused(_signed("GET", "/2016-08-19/account-settings", service="s3"))
    assert error.code == "InvalidSignatureException"
    assert error.message == "Credential should be scoped to correct service: 'lambda'."
