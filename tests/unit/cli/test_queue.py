"""`nimbus queue`: the signed queue-depth request and how depths are shown."""

from __future__ import annotations

import httpx

from nimbus.cli.queue import age, queue_table
from nimbus.client import ClientConfig, NimbusClient, QueueDepth


def test_queue_depths_come_from_the_signed_platform_endpoint() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"queues": [
            {"functionName": "fn", "depth": 5, "queued": 3, "inFlight": 2, "oldestAgeSeconds": 12.5}]})  # fmt: skip

    client = NimbusClient(ClientConfig(endpoint_url="http://nimbus.test"), transport=httpx.MockTransport(answer))
    (depth,) = client.queues()
    assert depth == QueueDepth("fn", 3, 2, 12.5) and depth.depth == 5
    assert seen[0].url.path == "/_nimbus/queues"
    assert seen[0].headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")


def test_ages_are_short() -> None:
    assert [age(s) for s in (0.4, 59, 61, 3599, 7260)] == ["0s", "59s", "1m 1s", "59m 59s", "2h 1m"]


def test_table_has_a_row_per_function() -> None:
    table = queue_table([QueueDepth("a", 1, 0, 3.0), QueueDepth("b", 0, 2, 90.0)])
    assert [c.header for c in table.columns] == ["Function", "Waiting", "Running", "Oldest"]
    assert table.row_count == 2
