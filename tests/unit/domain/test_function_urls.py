"""Function URL mapping: the URL, request → payload 2.0 event, function answer → HTTP response, CORS."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from nimbus.domain.function_urls import (
    Caller,
    Cors,
    EventContext,
    HttpRequest,
    build_event,
    function_url,
    is_preflight,
    map_response,
    preflight_headers,
    query_parameters,
    response_cors_headers,
    url_id_from_host,
)

URL_ID = "a" * 32
CONTEXT = EventContext(url_id=URL_ID, domain_name=f"{URL_ID}.lambda-url.us-east-1.localhost", request_id="rid",
                       epoch_ms=1583348638390)  # fmt: skip


def request(**changes: Any) -> HttpRequest:
    values: dict[str, Any] = {
        "method": "POST",
        "raw_path": "/my/path",
        "raw_query": "",
        "headers": [("host", "h"), ("user-agent", "agent")],
        "body": b"",
        "source_ip": "192.0.2.1",
    }
    values.update(changes)
    return HttpRequest(**values)


# -- the URL --------------------------------------------------------------------------------------------------------
def test_url_on_loopback_uses_localhost_so_curl_resolves_it() -> None:
    assert function_url("http://127.0.0.1:9009", URL_ID, "us-east-1") == (
        f"http://{URL_ID}.lambda-url.us-east-1.localhost:9009/"
    )


def test_url_on_a_public_host_prefixes_that_host_and_keeps_scheme_and_port() -> None:
    assert function_url("https://nimbus.example.com", URL_ID, "eu-west-1") == (
        f"https://{URL_ID}.lambda-url.eu-west-1.nimbus.example.com/"
    )
    assert function_url("http://localhost:8080/", URL_ID, "us-east-1").endswith(".localhost:8080/")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (f"{URL_ID}.lambda-url.us-east-1.localhost:9009", URL_ID),
        (f"{URL_ID.upper()}.LAMBDA-URL.us-east-1.on.aws", URL_ID),
        ("127.0.0.1:9009", None),
        (".lambda-url.us-east-1.localhost", None),
        ("localhost", None),
    ],
)
def test_url_id_from_host(host: str, expected: str | None) -> None:
    assert url_id_from_host(host) == expected


# -- request → event -----------------------------------------------------------------------------------------------
def test_event_has_the_payload_2_0_fields_aws_sends() -> None:
    event = build_event(request(raw_query="a=1"), CONTEXT)
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/my/path" and event["rawQueryString"] == "a=1"
    assert event["isBase64Encoded"] is False and "body" not in event
    assert event["requestContext"] == {
        "accountId": "anonymous",
        "apiId": URL_ID,
        "domainName": CONTEXT.domain_name,
        "domainPrefix": URL_ID,
        "http": {
            "method": "POST",
            "path": "/my/path",
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.1",
            "userAgent": "agent",
        },
        "requestId": "rid",
        "routeKey": "$default",
        "stage": "$default",
        "time": "04/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    }


def test_repeated_headers_are_joined_with_commas_and_cookies_move_to_their_own_list() -> None:
    headers = [("host", "h"), ("x-multi", "one"), ("x-multi", "two"), ("cookie", "a=1; b=2"), ("cookie", "c=3")]
    event = build_event(request(headers=headers), CONTEXT)
    assert event["headers"] == {"host": "h", "x-multi": "one,two"}
    assert event["cookies"] == ["a=1", "b=2", "c=3"]


def test_no_cookie_header_means_no_cookies_key_and_no_query_means_no_parameters() -> None:
    event = build_event(request(), CONTEXT)
    assert "cookies" not in event and "queryStringParameters" not in event


def test_query_parameters_are_decoded_and_repeated_keys_joined() -> None:
    assert query_parameters("parameter1=value1&parameter1=value2&parameter2=value") == {
        "parameter1": "value1,value2",
        "parameter2": "value",
    }
    assert query_parameters("q=a%20b+c&empty=&flag") == {"q": "a b c", "empty": "", "flag": ""}


def test_text_bodies_arrive_as_text() -> None:
    headers = [("content-type", "application/json; charset=utf-8")]
    event = build_event(request(headers=headers, body=b'{"a": "\xc3\xa9"}'), CONTEXT)
    assert event["body"] == '{"a": "é"}' and event["isBase64Encoded"] is False
    event = build_event(request(headers=[("content-type", "text/plain")], body=b"hi"), CONTEXT)
    assert event["body"] == "hi"


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/png", "", "text/plain"])
def test_binary_bodies_arrive_base64_encoded(content_type: str) -> None:
    body = b"\x89PNG\xff\x00" if content_type == "text/plain" else b"raw bytes"  # text/plain that is not UTF-8
    headers = [("content-type", content_type)] if content_type else []
    event = build_event(request(headers=headers, body=body), CONTEXT)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_iam_caller_is_in_the_authorizer_and_the_account_is_theirs() -> None:
    context = EventContext(URL_ID, "d", "rid", account_id="000000000000", caller=Caller("AKID", "000000000000"))
    rc = build_event(request(), context)["requestContext"]
    assert rc["accountId"] == "000000000000"
    assert rc["authorizer"]["iam"]["accessKey"] == "AKID"
    assert rc["authorizer"]["iam"]["userArn"] == "arn:aws:iam::000000000000:root"


# -- function answer → response ------------------------------------------------------------------------------------
def test_structured_response_maps_status_headers_cookies_and_body() -> None:
    payload = orjson.dumps({
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain", "My-Custom-Header": "Custom Value", "X-Number": 5},
        "body": "Hello",
        "cookies": ["Cookie_1=Value1; Max-Age=78000", "Cookie_2=Value2"],
        "isBase64Encoded": False,
    })  # fmt: skip
    response = map_response(payload, function_error=False)
    assert response.status == 201 and response.body == b"Hello"
    assert response.headers == [
        ("content-type", "text/plain"),
        ("my-custom-header", "Custom Value"),
        ("x-number", "5"),
        ("set-cookie", "Cookie_1=Value1; Max-Age=78000"),
        ("set-cookie", "Cookie_2=Value2"),
    ]


def test_base64_body_is_decoded_and_content_type_defaults_to_json() -> None:
    payload = orjson.dumps({"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(),
                            "isBase64Encoded": True})  # fmt: skip
    response = map_response(payload, function_error=False)
    assert response.body == b"\x00\x01"
    assert response.headers == [("content-type", "application/json")]


@pytest.mark.parametrize("answer", ['"Hello, world!"', '{"message": "hi"}', "[1, 2]", "42", "null"])
def test_plain_values_are_sent_as_json_with_200(answer: str) -> None:
    response = map_response(answer.encode(), function_error=False)
    assert response.status == 200
    assert response.body == answer.encode()  # a string keeps its JSON quotes, as AWS sends it
    assert response.headers == [("content-type", "application/json")]


def test_function_error_is_502_internal_server_error() -> None:
    response = map_response(b'{"errorMessage": "boom"}', function_error=True)
    assert (response.status, orjson.loads(response.body)) == (502, {"Message": "Internal Server Error"})


@pytest.mark.parametrize(
    "document",
    [
        {"statusCode": "200"},
        {"statusCode": True},
        {"statusCode": 99},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "headers": {"x": ["a", "b"]}},
        {"statusCode": 200, "cookies": "a=1"},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
    ],
)
def test_malformed_structured_responses_are_502(document: dict[str, Any]) -> None:
    assert map_response(orjson.dumps(document), function_error=False).status == 502


# -- CORS -------------------------------------------------------------------------------------------------------------
CORS = Cors(
    allow_origins=("https://example.com",),
    allow_methods=("GET", "POST"),
    allow_headers=("content-type", "x-custom"),
    expose_headers=("x-trace",),
    max_age=600,
    allow_credentials=True,
)


def test_cors_wire_round_trip_keeps_only_what_was_set() -> None:
    assert Cors.from_wire({"AllowOrigins": ["*"], "MaxAge": 0}).to_wire() == {"AllowOrigins": ["*"], "MaxAge": 0}
    assert Cors.from_wire(CORS.to_wire()) == CORS


def test_preflight_is_options_with_origin_and_requested_method() -> None:
    assert is_preflight("OPTIONS", {"origin": "o", "access-control-request-method": "GET"})
    assert not is_preflight("OPTIONS", {"origin": "o"})
    assert not is_preflight("GET", {"origin": "o", "access-control-request-method": "GET"})


def test_preflight_from_an_allowed_origin_gets_every_configured_header() -> None:
    headers = {"origin": "https://example.com", "access-control-request-method": "POST"}
    assert preflight_headers(CORS, headers) == {
        "Access-Control-Allow-Origin": "https://example.com",
        "Vary": "Origin",
        "Access-Control-Allow-Methods": "GET,POST",
        "Access-Control-Allow-Headers": "content-type,x-custom",
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Max-Age": "600",
    }


def test_preflight_from_another_origin_gets_no_cors_headers() -> None:
    assert preflight_headers(CORS, {"origin": "https://evil.example", "access-control-request-method": "GET"}) == {}


def test_wildcard_origin_answers_star_unless_credentials_are_allowed() -> None:
    assert Cors(allow_origins=("*",)).allowed_origin("https://a.example") == "*"
    assert Cors(allow_origins=("*",), allow_credentials=True).allowed_origin("https://a.example") == (
        "https://a.example"
    )
    assert Cors(allow_origins=("*",)).allowed_origin(None) is None


def test_responses_carry_origin_exposed_headers_and_credentials() -> None:
    assert response_cors_headers(CORS, {"origin": "https://example.com"}) == {
        "Access-Control-Allow-Origin": "https://example.com",
        "Vary": "Origin",
        "Access-Control-Expose-Headers": "x-trace",
        "Access-Control-Allow-Credentials": "true",
    }
    assert response_cors_headers(CORS, {}) == {}
