"""SigV4 on a real server: boto3 and raw requests with a wrong secret, an unknown key, no signature, an old date;
and requests whose canonical form is tricky (ARNs in the path, repeated query keys) verifying."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.test_validation import signed_request
from tests.support import REGION, Server, create_function, invoke_json

HELLO = "def handler(event, context):\n    return {'ok': True}\n"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


def _client(server: Server, key: str, secret: str) -> Any:
    return boto3.client("lambda", endpoint_url=server.url, region_name=REGION, aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 0}))  # fmt: skip


def _refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call()
    response: dict[str, Any] = dict(caught.value.response)
    return response


def test_boto3_with_a_wrong_secret_is_an_invalid_signature(server: Server) -> None:
    response = _refusal(_client(server, "test", "wrong-secret").list_functions)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"] == {"Code": "InvalidSignatureException", "Message": BAD_SIGNATURE}


def test_boto3_with_an_unknown_key_is_an_unrecognized_client(server: Server) -> None:
    response = _refusal(_client(server, "AKIDUNKNOWN", "test").get_account_settings)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"] == {
        "Code": "UnrecognizedClientException",
        "Message": "The security token included in the request is invalid.",
    }


def test_aws_cli_with_a_wrong_secret_is_refused(server: Server) -> None:
    env = {**server.env, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "wrong", "AWS_DEFAULT_REGION": REGION,
           "AWS_MAX_ATTEMPTS": "1"}  # fmt: skip
    aws = str(Path(sys.executable).with_name("aws"))
    refused = subprocess.run([sys.executable, aws, "lambda", "list-functions", "--endpoint-url", server.url],
                             env=env, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert refused.returncode != 0
    assert f"An error occurred (InvalidSignatureException) when calling the ListFunctions operation: {BAD_SIGNATURE}" \
        in refused.stderr  # fmt: skip


def test_no_authorization_header_is_403_json(server: Server) -> None:
    response = httpx.get(f"{server.url}/2015-03-31/functions", timeout=30)
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert response.json() == {"message": "Missing Authentication Token"}


def test_a_signature_older_than_five_minutes_has_expired(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    signed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=10)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: signed_at)
    response = _refusal(server.lambda_client().list_functions)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "InvalidSignatureException"
    assert response["Error"]["Message"].startswith(
        f"Signature expired: {signed_at:%Y%m%dT%H%M%SZ} is now earlier than "
    )
    assert response["Error"]["Message"].endswith(" - 5 min.)")


def test_a_raw_request_with_a_wrong_secret_is_refused(server: Server) -> None:
    response = signed_request(server, "GET", "/2016-08-19/account-settings", secret="nope")
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert response.json() == {"message": BAD_SIGNATURE}


def test_a_full_and_a_qualified_arn_in_the_path_verify(client: Any) -> None:
    name = create_function(client, {"app.py": HELLO})
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert client.get_function(FunctionName=arn)["Configuration"]["FunctionName"] == name
    assert client.get_function_configuration(FunctionName=f"{arn}:$LATEST")["FunctionArn"] == f"{arn}:$LATEST"
    response, body = invoke_json(client, f"{arn}:$LATEST")
    assert (response["StatusCode"], body) == (200, {"ok": True})


def test_repeated_query_keys_verify(client: Any) -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:function:no-such-function"
    # UntagResource sends ?tagKeys=a&tagKeys=b; whatever the operation answers, the signature was accepted.
    response = _refusal(lambda: client.untag_resource(Resource=arn, TagKeys=["b", "a"]))
    assert response["Error"]["Code"] not in ("InvalidSignatureException", "IncompleteSignatureException")
    assert response["ResponseMetadata"]["HTTPStatusCode"] != 403
