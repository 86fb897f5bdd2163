"""The router built from the botocore model: method + raw path (+ static query) -> operation and path parameters."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from nimbus.api.router import Router, parse_route


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.from_model()


@pytest.mark.parametrize(
    ("method", "path", "query", "operation"),
    [
        ("POST", "/2015-03-31/functions", "", "CreateFunction"),
        ("GET", "/2015-03-31/functions", "", "ListFunctions"),
        ("GET", "/2015-03-31/functions/f1", "", "GetFunction"),
        ("DELETE", "/2015-03-31/functions/f1", "", "DeleteFunction"),
        ("GET", "/2015-03-31/functions/f1/configuration", "", "GetFunctionConfiguration"),
        ("PUT", "/2015-03-31/functions/f1/configuration", "", "UpdateFunctionConfiguration"),
        ("PUT", "/2015-03-31/functions/f1/code", "", "UpdateFunctionCode"),
        ("POST", "/2015-03-31/functions/f1/invocations", "", "Invoke"),
        ("GET", "/2016-08-19/account-settings", "", "GetAccountSettings"),
        ("PUT", "/2017-10-31/functions/f1/concurrency", "", "PutFunctionConcurrency"),
        ("GET", "/2019-09-30/functions/f1/concurrency", "", "GetFunctionConcurrency"),
        ("GET", "/2018-10-31/layers", "find=LayerVersion&Arn=x", "GetLayerVersionByArn"),
        ("GET", "/2018-10-31/layers", "", "ListLayers"),
        ("GET", "/2019-09-30/functions/f1/provisioned-concurrency", "List=ALL", "ListProvisionedConcurrencyConfigs"),
        ("GET", "/2019-09-30/functions/f1/provisioned-concurrency", "Qualifier=1", "GetProvisionedConcurrencyConfig"),
        ("GET", "/2019-09-25/functions/f1/event-invoke-config/list", "", "ListFunctionEventInvokeConfigs"),
        ("PUT", "/2019-09-25/functions/f1/event-invoke-config", "", "PutFunctionEventInvokeConfig"),
        ("POST", "/2019-09-25/functions/f1/event-invoke-config", "", "UpdateFunctionEventInvokeConfig"),
    ],
)
def test_routes_to_the_model_operation(router: Router, method: str, path: str, query: str, operation: str) -> None:
    match = router.match(method, path, parse_qs(query, keep_blank_values=True))
    assert match is not None
    assert match.route.operation == operation


def test_percent_encoded_arn_in_the_path_is_decoded_after_splitting(router: Router) -> None:
    path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af1%3A%24LATEST/invocations"
    match = router.match("POST", path, {})
    assert match is not None
    assert match.path_params == {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:f1:$LATEST"}


def test_raw_colons_and_dollars_in_the_path_are_accepted(router: Router) -> None:
    match = router.match("GET", "/2015-03-31/functions/000000000000:function:f1:$LATEST", {})
    assert match is not None
    assert match.path_params["FunctionName"] == "000000000000:function:f1:$LATEST"


def test_encoded_slash_never_splits_a_parameter(router: Router) -> None:
    match = router.match("GET", "/2015-03-31/functions/a%2Fb/configuration", {})
    assert match is not None
    assert match.route.operation == "GetFunctionConfiguration"
    assert match.path_params["FunctionName"] == "a/b"


def test_two_path_parameters_bind_in_order(router: Router) -> None:
    match = router.match("GET", "/2015-03-31/functions/f1/aliases/live", {})
    assert match is not None
    assert match.route.operation == "GetAlias"
    assert match.path_params == {"FunctionName": "f1", "Name": "live"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/nothing"), ("GET", "/2015-03-31/functions/f1/bogus"), ("PATCH", "/2015-03-31/functions")],
)
def test_unknown_paths_match_nothing(router: Router, method: str, path: str) -> None:
    assert router.match(method, path, {}) is None


def test_the_route_with_more_literals_wins() -> None:
    general = parse_route("General", "GET", "/v/things/{Name}/{Sub}")
    specific = parse_route("Specific", "GET", "/v/things/{Name}/list")
    router = Router([general, specific])
    specific_match = router.match("GET", "/v/things/a/list", {})
    general_match = router.match("GET", "/v/things/a/b", {})
    assert specific_match is not None and specific_match.route.operation == "Specific"
    assert general_match is not None and general_match.route.operation == "General"


def test_parse_route_reads_greedy_parameters_and_static_query() -> None:
    route = parse_route("Op", "GET", "/v/{Key+}?find=X")
    assert route.params == ("Key",)
    assert route.static_query == (("find", "X"),)
    assert route.segments == ("v", None)
