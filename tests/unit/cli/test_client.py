from __future__ import annotations

import httpx
import pytest

from nimbus.client import ApiError, ClientConfig, EndpointError, NimbusClient


def test_defaults_are_the_loopback_server_and_test_keys() -> None:
    config = ClientConfig.from_env({})
    assert (config.endpoint_url, config.region, config.access_key_id, config.secret_access_key) == (
        "http://127.0.0.1:9009", "us-east-1", "test", "test",
    )  # fmt: skip


def test_flag_wins_over_environment_for_the_endpoint() -> None:
    env = {"NIMBUS_ENDPOINT_URL": "http://env:1/"}
    assert ClientConfig.from_env(env).endpoint_url == "http://env:1"
    assert ClientConfig.from_env(env, endpoint_url="http://flag:2").endpoint_url == "http://flag:2"


def test_nimbus_key_pair_wins_over_aws_pair() -> None:
    env = {"AWS_ACCESS_KEY_ID": "aws", "AWS_SECRET_ACCESS_KEY": "aws-secret", "AWS_SESSION_TOKEN": "tok",
           "NIMBUS_ACCESS_KEY_ID": "nim", "NIMBUS_SECRET_ACCESS_KEY": "nim-secret"}  # fmt: skip
    config = ClientConfig.from_env(env)
    assert (config.access_key_id, config.secret_access_key, config.session_token) == ("nim", "nim-secret", None)


def test_aws_key_pair_is_used_whole() -> None:
    env = {"AWS_ACCESS_KEY_ID": "aws", "AWS_SECRET_ACCESS_KEY": "aws-secret", "NIMBUS_ACCESS_KEY_ID": "half"}
    config = ClientConfig.from_env(env)
    assert (config.access_key_id, config.secret_access_key) == ("aws", "aws-secret")


def test_region_prefers_nimbus_then_aws_default() -> None:
    assert ClientConfig.from_env({"AWS_DEFAULT_REGION": "eu-west-1"}).region == "eu-west-1"
    assert ClientConfig.from_env({"AWS_DEFAULT_REGION": "eu-west-1", "NIMBUS_REGION": "ap-south-1"}).region == (
        "ap-south-1"
    )


def client_answering(handler: httpx.MockTransport) -> NimbusClient:
    return NimbusClient(ClientConfig(endpoint_url="http://nimbus.test", region="eu-west-1"), transport=handler)


def test_log_page_request_is_sigv4_signed_for_lambda() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"logGroupName": "/aws/lambda/fn", "events": [
            {"id": 7, "logStreamName": "s", "timestamp": 1000, "message": "hi"}]})  # fmt: skip

    page = client_answering(httpx.MockTransport(answer)).function_logs("fn", after=3, wait=10)
    assert page.group == "/aws/lambda/fn"
    assert [(e.id, e.stream, e.timestamp_ms, e.message) for e in page.events] == [(7, "s", 1000, "hi")]
    request = seen[0]
    assert request.url.path == "/_nimbus/logs/fn"
    assert dict(request.url.params) == {"after": "3", "wait": "10"}
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")
    assert "/eu-west-1/lambda/aws4_request" in request.headers["authorization"]


def test_platform_error_carries_the_aws_code() -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403, json={"message": "Bad signature"}, headers={"x-amzn-ErrorType": "InvalidSignatureException"}
        )

    with pytest.raises(ApiError) as caught:
        client_answering(httpx.MockTransport(answer)).function_logs("fn")
    assert (caught.value.code, caught.value.message, caught.value.status) == (
        "InvalidSignatureException",
        "Bad signature",
        403,
    )


def test_unreachable_endpoint_is_an_endpoint_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(EndpointError):
        client_answering(httpx.MockTransport(answer)).function_logs("fn")
