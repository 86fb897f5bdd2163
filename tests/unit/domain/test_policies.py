"""Resource policy statements and documents in AWS's shapes."""

from __future__ import annotations

import orjson
import pytest

from nimbus.domain.policies import (
    INVALID_PRINCIPAL,
    MAX_POLICY_BYTES,
    NO_POLICY,
    Permission,
    build_statement,
    policy_document,
    principal_element,
    to_json,
    with_statement,
    without_statement,
)
from nimbus.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound, ServiceError

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


def test_a_service_principal_with_source_account_and_arn_is_written_as_aws_does() -> None:
    permission = Permission("s3", "lambda:InvokeFunction", "s3.amazonaws.com", source_arn="arn:aws:s3:::bucket",
                            source_account="123456789012")  # fmt: skip
    assert to_json(build_statement(permission, ARN)) == (
        '{"Sid":"s3","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction",'
        f'"Resource":"{ARN}","Condition":{{"StringEquals":{{"AWS:SourceAccount":"123456789012"}},'
        '"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::bucket"}}}'
    )


def test_principals_are_a_wildcard_a_service_or_an_aws_principal() -> None:
    assert principal_element("*") == "*"
    assert principal_element("events.amazonaws.com") == {"Service": "events.amazonaws.com"}
    assert principal_element("alexa-appkit.amazon.com") == {"Service": "alexa-appkit.amazon.com"}
    assert principal_element("123456789012") == {"AWS": "arn:aws:iam::123456789012:root"}
    role = "arn:aws:iam::123456789012:role/caller"
    assert principal_element(role) == {"AWS": role}


def test_an_unknown_principal_is_refused() -> None:
    with pytest.raises(InvalidParameterValue, match=INVALID_PRINCIPAL):
        principal_element("somebody")


def test_a_statement_without_conditions_has_no_condition_member() -> None:
    statement = build_statement(Permission("s1", "lambda:InvokeFunction", "*"), f"{ARN}:1")
    assert statement == {"Sid": "s1", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
                         "Resource": f"{ARN}:1"}  # fmt: skip


def test_url_org_token_and_invoked_via_url_conditions() -> None:
    permission = Permission("u", "lambda:InvokeFunctionUrl", "*", function_url_auth_type="NONE",
                            principal_org_id="o-abcdefghij", event_source_token="token",
                            invoked_via_function_url=True)  # fmt: skip
    assert build_statement(permission, ARN)["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij", "lambda:EventSourceToken": "token",
                         "lambda:FunctionUrlAuthType": "NONE"},
        "Bool": {"lambda:InvokedViaFunctionUrl": "true"},
    }  # fmt: skip


def test_the_policy_document_has_version_id_and_statements() -> None:
    statement = build_statement(Permission("s1", "lambda:InvokeFunction", "*"), ARN)
    assert orjson.loads(to_json(policy_document([statement]))) == {
        "Version": "2012-10-17", "Id": "default", "Statement": [statement]
    }  # fmt: skip


def test_a_duplicate_statement_id_is_a_conflict() -> None:
    statement = build_statement(Permission("s1", "lambda:InvokeFunction", "*"), ARN)
    with pytest.raises(ResourceConflict) as caught:
        with_statement([statement], statement)
    assert caught.value.message == (
        "The statement id (s1) provided already exists. Please provide a new statement id, or remove the existing "
        "statement."
    )


def test_a_policy_over_the_size_quota_is_refused() -> None:
    kept: list[dict[str, object]] = []
    with pytest.raises(ServiceError) as caught:
        for i in range(1000):
            kept = with_statement(kept, build_statement(Permission(f"s{i}", "lambda:InvokeFunction", "*"), ARN))
    assert caught.value.code == "PolicyLengthExceededException"
    assert caught.value.message.endswith(f"is bigger than the limit ({MAX_POLICY_BYTES}).")
    assert len(to_json(policy_document(kept)).encode()) <= MAX_POLICY_BYTES


def test_removing_a_statement_keeps_the_others() -> None:
    first, second = (build_statement(Permission(sid, "lambda:InvokeFunction", "*"), ARN) for sid in ("a", "b"))
    assert without_statement([first, second], "a") == [second]


def test_removing_from_no_policy_or_a_missing_sid_is_not_found() -> None:
    with pytest.raises(ResourceNotFound, match=NO_POLICY):
        without_statement([], "s1")
    statement = build_statement(Permission("s1", "lambda:InvokeFunction", "*"), ARN)
    with pytest.raises(ResourceNotFound) as caught:
        without_statement([statement], "s2")
    assert caught.value.message == "Statement s2 is not found in resource policy."
