"""Event invoke configs: Put replaces, Update merges, AWS's messages, and configs follow their function."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nimbus.control.event_invoke_configs import NO_FUNCTION, ConfigRequest, EventInvokeConfigService
from nimbus.domain.event_invoke import NOTHING_TO_SET, EventInvokeConfig
from nimbus.errors import InvalidParameterValue, ResourceNotFound
from nimbus.store.event_invoke_configs import SqlEventInvokeConfigStore
from nimbus.store.functions import SqlFunctionStore
from tests.unit.control.fakes import IDENTITY, StoredFunctions, function

QUEUE = "arn:aws:sqs:us-east-1:123456789012:q"
TOPIC = "arn:aws:sns:us-east-1:123456789012:t"


class Clock:
    now = 1_700_000_000.1234

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def functions(functions: SqlFunctionStore) -> SqlFunctionStore:
    functions.insert(function("other"))  # a Lambda destination
    return functions


@pytest.fixture
def service(engine: sa.Engine, functions: SqlFunctionStore) -> EventInvokeConfigService:
    return EventInvokeConfigService(SqlEventInvokeConfigStore(engine), StoredFunctions(functions), IDENTITY, Clock())


def test_put_stores_what_was_set_and_stamps_milliseconds(service: EventInvokeConfigService) -> None:
    config = service.put("fn", None, ConfigRequest(maximum_retry_attempts=0))
    assert config == EventInvokeConfig("fn", "$LATEST", maximum_retry_attempts=0, last_modified=1_700_000_000.123)
    assert service.get("fn", "$LATEST") == config


def test_put_replaces_the_previous_config(service: EventInvokeConfigService) -> None:
    service.put("fn", None, ConfigRequest(maximum_retry_attempts=1, on_failure=QUEUE))
    config = service.put("fn", None, ConfigRequest(maximum_event_age=60))
    assert (config.maximum_retry_attempts, config.maximum_event_age, config.on_failure) == (None, 60, None)


def test_update_changes_only_what_it_names(service: EventInvokeConfigService) -> None:
    service.put("fn", None, ConfigRequest(maximum_retry_attempts=1, on_failure=QUEUE))
    config = service.update("fn", None, ConfigRequest(on_success=TOPIC))
    assert (config.maximum_retry_attempts, config.on_success, config.on_failure) == (1, TOPIC, QUEUE)
    cleared = service.update("fn", None, ConfigRequest(on_failure=""))
    assert cleared.on_failure is None and cleared.on_success == TOPIC


def test_nothing_to_set_is_refused(service: EventInvokeConfigService) -> None:
    for operation in (service.put, service.update):
        with pytest.raises(InvalidParameterValue) as caught:
            operation("fn", None, ConfigRequest())
        assert caught.value.message == NOTHING_TO_SET


def test_an_empty_destination_config_is_a_setting(service: EventInvokeConfigService) -> None:
    # AWS answers Put with DestinationConfig={"OnSuccess": {}} 200, both destinations empty.
    config = service.put("fn", None, ConfigRequest(has_destination_config=True))
    assert (config.on_success, config.on_failure, config.maximum_retry_attempts) == (None, None, None)
    service.put("fn", None, ConfigRequest(maximum_retry_attempts=1, on_failure=QUEUE))
    updated = service.update("fn", None, ConfigRequest(has_destination_config=True))
    assert (updated.maximum_retry_attempts, updated.on_failure) == (1, QUEUE)


@pytest.mark.parametrize("operation", ["put", "update"])
@pytest.mark.parametrize(("name", "qualifier"), [("nope", None), ("fn", "no-such-alias"), ("fn", "7")])
def test_writes_to_a_missing_function_say_it_does_not_exist(
    service: EventInvokeConfigService, operation: str, name: str, qualifier: str | None
) -> None:
    with pytest.raises(ResourceNotFound) as caught:
        getattr(service, operation)(name, qualifier, ConfigRequest(maximum_retry_attempts=1))
    assert caught.value.message == NO_FUNCTION


def test_list_of_a_missing_function_says_it_does_not_exist(service: EventInvokeConfigService) -> None:
    with pytest.raises(ResourceNotFound) as caught:
        service.list("nope", None, None, None)
    assert caught.value.message == NO_FUNCTION


@pytest.mark.parametrize("operation", ["get", "delete"])
@pytest.mark.parametrize(("name", "qualifier", "arn"), [
    ("nope", None, "arn:aws:lambda:us-east-1:000000000000:function:nope:$LATEST"),
    ("fn", "doesnotexist", "arn:aws:lambda:us-east-1:000000000000:function:fn:doesnotexist"),
])  # fmt: skip
def test_reads_of_a_missing_function_name_the_config_instead(
    service: EventInvokeConfigService, operation: str, name: str, qualifier: str | None, arn: str
) -> None:
    # AWS: get_function_doesnotexist, get_qualifier_doesnotexist, delete_function_doesnotexist.
    with pytest.raises(ResourceNotFound) as caught:
        getattr(service, operation)(name, qualifier)
    assert caught.value.message == f"The function {arn} doesn't have an EventInvokeConfig"


@pytest.mark.parametrize("operation", ["get", "delete", "update"])
def test_a_missing_config_names_the_qualified_function(service: EventInvokeConfigService, operation: str) -> None:
    with pytest.raises(ResourceNotFound) as caught:
        if operation == "update":
            service.update("fn", None, ConfigRequest(maximum_retry_attempts=1))
        else:
            getattr(service, operation)("fn", None)
    arn = "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST"
    expected = f"The function {arn} doesn't have an EventInvokeConfig"
    assert caught.value.message == expected


def test_a_lambda_destination_must_exist(service: EventInvokeConfigService) -> None:
    service.put("fn", None, ConfigRequest(on_success="arn:aws:lambda:us-east-1:000000000000:function:other"))
    missing = "arn:aws:lambda:us-east-1:000000000000:function:ghost"
    with pytest.raises(InvalidParameterValue, match=r"^The destination ARN \S+ghost is invalid\.$"):
        service.put("fn", None, ConfigRequest(on_success=missing))


def test_list_pages_by_qualifier(service: EventInvokeConfigService) -> None:
    service.put("fn", None, ConfigRequest(maximum_retry_attempts=1))
    page, marker = service.list("fn", None, None, 1)
    assert [c.qualifier for c in page] == ["$LATEST"] and marker is None
    with pytest.raises(InvalidParameterValue, match="must not include a version number or alias"):
        service.list("fn", "1", None, None)
    with pytest.raises(ResourceNotFound, match=NO_FUNCTION):
        service.list("nope", None, None, None)


def test_effective_configs_default_where_none_is_set(service: EventInvokeConfigService) -> None:
    service.put("fn", None, ConfigRequest(maximum_retry_attempts=0))
    configs = service.effective([("fn", "$LATEST"), ("other", "$LATEST")])
    assert configs[("fn", "$LATEST")].maximum_retry_attempts == 0
    assert configs[("other", "$LATEST")] == EventInvokeConfig("other", "$LATEST")


def test_deleting_the_function_deletes_its_config(
    service: EventInvokeConfigService, functions: SqlFunctionStore
) -> None:
    service.put("fn", None, ConfigRequest(maximum_retry_attempts=0))
    functions.delete("fn")
    functions.insert(function("fn"))
    with pytest.raises(ResourceNotFound, match="doesn't have an EventInvokeConfig"):
        service.get("fn", None)
