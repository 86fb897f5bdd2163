"""Wire request -> input members: locations from the model, base64 blobs, and refusals of malformed bodies."""

from __future__ import annotations

import base64

import pytest

from nimbus.api.model import operation
from nimbus.api.params import parse_input
from nimbus.errors import ServiceError


def test_body_members_are_read_and_blobs_decoded() -> None:
    body = b'{"FunctionName":"f","Code":{"ZipFile":"' + base64.b64encode(b"PK\x03\x04").decode().encode() + b'"}}'
    params = parse_input(operation("CreateFunction"), {}, {}, {}, body)
    assert params == {"FunctionName": "f", "Code": {"ZipFile": b"PK\x03\x04"}}


def test_uri_query_and_header_members_come_from_their_locations() -> None:
    params = parse_input(
        operation("Invoke"),
        {"FunctionName": "f"},
        {"Qualifier": ["1"]},
        {"x-amz-invocation-type": "Event"},
        b'{"k":1}',
    )
    assert params == {"FunctionName": "f", "Qualifier": "1", "InvocationType": "Event", "Payload": b'{"k":1}'}


def test_integer_query_members_are_numbers() -> None:
    assert parse_input(operation("ListFunctions"), {}, {"MaxItems": ["5"]}, {}, b"") == {"MaxItems": 5}


def test_unknown_body_members_are_ignored() -> None:
    assert parse_input(operation("CreateFunction"), {}, {}, {}, b'{"FunctionName":"f","Bogus":1}') == {
        "FunctionName": "f"
    }


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"Code":"abc"}',
        b'{"MemorySize":"big"}',
        b'{"MemorySize":true}',
        b'{"Publish":"yes"}',
        b'{"Code":{"ZipFile":"!!"}}',
        b'{"Environment":{"Variables":{"KEY":1}}}',
        b'{"Architectures":"x86_64"}',
    ],
)
def test_malformed_bodies_are_400_invalid_request_content(body: bytes) -> None:
    with pytest.raises(ServiceError) as caught:
        parse_input(operation("CreateFunction"), {}, {}, {}, body)
    assert caught.value.code == "InvalidRequestContentException"
    assert caught.value.status == 400
    assert caught.value.message.startswith("Could not parse request body into json")


def test_a_non_numeric_integer_in_the_query_is_400() -> None:
    with pytest.raises(ServiceError) as caught:
        parse_input(operation("ListFunctions"), {}, {"MaxItems": ["abc"]}, {}, b"")
    assert caught.value.status == 400
