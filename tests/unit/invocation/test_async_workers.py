"""Async workers over an in-memory queue, a fake runner, fake AWS clients and a fake clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from nimbus.domain.arns import Identity
from nimbus.domain.event_invoke import EventInvokeConfig
from nimbus.domain.functions import CodeRef, FunctionConfig
from nimbus.domain.invocation_records import AttemptResponse
from nimbus.errors import ResourceNotFound, TooManyRequests
from nimbus.invocation.async_workers import AsyncWorkers
from nimbus.invocation.destinations import Destinations
from nimbus.invocation.queue import MemoryEventQueue, NewEvent, QueuedEvent
from nimbus.observability.metrics import AsyncEventMetrics

IDENTITY = Identity("us-east-1", "000000000000")
START = 1_700_000_000.0
RECORDS = "arn:aws:sqs:us-east-1:123456789012:records"
DLQ = "arn:aws:sqs:us-east-1:123456789012:dlq"
TOPIC = "arn:aws:sns:us-east-1:123456789012:dead"
BUS = "arn:aws:events:us-east-1:123456789012:event-bus/results"
FN_ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST"
OK = AttemptResponse(200, "$LATEST", b'{"ok": true}')
FAILED = AttemptResponse(200, "$LATEST", b'{"errorMessage": "boom", "errorType": "ValueError"}', "Unhandled")


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Runner:
    outcomes: list[AttemptResponse | Exception] = field(default_factory=list)
    calls: list[QueuedEvent] = field(default_factory=list)
    gate: asyncio.Event | None = None
    running: int = 0
    most_running: int = 0

    async def run_event(self, event: QueuedEvent) -> AttemptResponse:
        self.calls.append(event)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
        finally:
            self.running -= 1
        outcome = self.outcomes.pop(0) if self.outcomes else OK
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@dataclass
class FakeAws:
    """SQS, SNS and EventBridge clients in one, recording what they are asked to send."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: bool = False

    def __call__(self, service: str, region: str) -> FakeAws:
        return self

    def get_queue_url(self, **kwargs: Any) -> dict[str, str]:
        return {"QueueUrl": f"http://sqs/{kwargs['QueueOwnerAWSAccountId']}/{kwargs['QueueName']}"}

    def send_message(self, **kwargs: Any) -> None:
        self._record("send_message", kwargs)

    def publish(self, **kwargs: Any) -> None:
        self._record("publish", kwargs)

    def put_events(self, **kwargs: Any) -> dict[str, Any]:
        self._record("put_events", kwargs)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e1"}]}

    def _record(self, name: str, kwargs: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("unreachable")
        self.calls.append((name, kwargs))


@dataclass
class Functions:
    dead_letter: str | None = None
    missing: bool = False

    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        if self.missing:
            raise ResourceNotFound("Function not found")
        passthrough = {"DeadLetterConfig": {"TargetArn": self.dead_letter}} if self.dead_letter else {}
        return FunctionConfig(name, "python3.12", "arn:aws:iam::000000000000:role/r", "app.handler",
                              CodeRef("ab" * 32, "x", 1), "rev", "2026", passthrough=passthrough)  # fmt: skip


@dataclass
class Setup:
    config: EventInvokeConfig = field(default_factory=lambda: EventInvokeConfig("fn", "$LATEST"))
    functions: Functions = field(default_factory=Functions)
    queue: MemoryEventQueue = field(default_factory=MemoryEventQueue)
    runner: Runner = field(default_factory=Runner)
    aws: FakeAws = field(default_factory=FakeAws)
    clock: Clock = field(default_factory=Clock)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    concurrency: int = 16

    def __post_init__(self) -> None:
        destinations = Destinations(self.queue.put, self.aws, self.clock)
        self.workers = AsyncWorkers(self.queue, self.runner, self, self.functions, destinations, IDENTITY,
                                    AsyncEventMetrics(self.registry), 1.0, self.clock, self.concurrency)  # fmt: skip

    def effective(self, keys: Any) -> dict[tuple[str, str], EventInvokeConfig]:
        return {key: self.config for key in keys}

    async def accept(self, payload: bytes = b'{"order": 7}') -> None:
        await self.queue.put([NewEvent("rid-1", "fn", None, payload, self.clock.now)])

    async def attempt(self) -> bool:
        """Move the clock to the next due event and process it; False when nothing is queued."""
        due = await self.queue.next_visible_at()
        if due is None:
            return False
        self.clock.now = max(self.clock.now, due)
        (event,) = await self.queue.claim(1, self.clock.now, self.clock.now + 900)
        await self.workers.process(event, self.config)
        return True

    async def drain(self) -> int:
        attempts = 0
        while await self.attempt():
            attempts += 1
        return attempts

    def sent(self, operation: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.aws.calls if name == operation]

    def records(self) -> list[dict[str, Any]]:
        return [orjson.loads(m["MessageBody"]) for m in self.sent("send_message") if "MessageAttributes" not in m]

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def test_success_sends_the_success_record_and_acks() -> None:
    setup = Setup(EventInvokeConfig("fn", "$LATEST", on_success=RECORDS))

    async def scenario() -> int:
        await setup.accept()
        return await setup.drain()

    assert asyncio.run(scenario()) == 1
    (message,) = setup.sent("send_message")
    assert message["QueueUrl"] == "http://sqs/123456789012/records"
    record = orjson.loads(message["MessageBody"])
    assert record["requestContext"] == {"requestId": "rid-1", "functionArn": FN_ARN, "condition": "Success",
                                        "approximateInvokeCount": 1}  # fmt: skip
    assert (record["requestPayload"], record["responsePayload"]) == ({"order": 7}, {"ok": True})
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert len(setup.queue) == 0


def test_function_errors_retry_after_one_and_two_minutes_with_the_same_request_id() -> None:
    setup = Setup(EventInvokeConfig("fn", "$LATEST", on_failure=RECORDS))
    setup.runner.outcomes = [FAILED, FAILED, FAILED]

    async def scenario() -> None:
        await setup.accept()
        await setup.drain()

    asyncio.run(scenario())
    calls = setup.runner.calls
    assert [c.request_id for c in calls] == ["rid-1"] * 3
    assert [c.attempts for c in calls] == [0, 1, 2]
    assert setup.clock.now == START + 60 + 120
    (record,) = setup.records()
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"] == {"errorMessage": "boom", "errorType": "ValueError"}
    assert setup.metric("nimbus_async_events_retried_total", function="fn", reason="function_error") == 2
    assert setup.metric("nimbus_async_events_dropped_total", function="fn", reason="RetriesExhausted") == 1


def test_a_success_on_retry_ends_the_retries() -> None:
    setup = Setup()
    setup.runner.outcomes = [FAILED, OK]

    async def scenario() -> int:
        await setup.accept()
        return await setup.drain()

    assert asyncio.run(scenario()) == 2
    assert len(setup.queue) == 0


def test_zero_retries_give_up_after_one_attempt_and_dead_letter_the_event() -> None:
    setup = Setup(EventInvokeConfig("fn", "$LATEST", maximum_retry_attempts=0), Functions(dead_letter=DLQ))
    setup.runner.outcomes = [FAILED]

    async def scenario() -> None:
        await setup.accept(b'{"order": 8}')
        await setup.drain()

    asyncio.run(scenario())
    (message,) = setup.sent("send_message")
    assert message["QueueUrl"] == "http://sqs/123456789012/dlq"
    assert message["MessageBody"] == '{"order": 8}'  # the event as it was
    assert message["MessageAttributes"] == {
        "RequestID": {"DataType": "String", "StringValue": "rid-1"},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "boom"},
    }


def test_dead_letters_go_to_sns_topics_as_well() -> None:
    setup = Setup(EventInvokeConfig("fn", "$LATEST", maximum_retry_attempts=0), Functions(dead_letter=TOPIC))
    setup.runner.outcomes = [FAILED]

    async def scenario() -> None:
        await setup.accept()
        await setup.drain()

    asyncio.run(scenario())
    (message,) = setup.sent("publish")
    assert (message["TopicArn"], message["Message"]) == (TOPIC, '{"order": 7}')
    assert message["MessageAttributes"]["RequestID"]["StringValue"] == "rid-1"


def test_a_retry_past_the_age_limit_gives_up_with_event_age_exceeded() -> None:
    setup = Setup(EventInvokeConfig("fn", "$LATEST", maximum_event_age=60, on_failure=RECORDS))
    setup.runner.outcomes = [FAILED]

    async def scenario() -> int:
        await setup.accept()
        return await setup.drain()

    assert asyncio.run(scenario()) == 1
    (record,) = setup.records()
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"]["functionError"] == "Unhandled"


def test_an_event_that_waited_past_its_age_is_not_run() -> None:
    setup = Setup(EventInvokeConfig("fn", "$LATEST", maximum_event_age=60, on_failure=RECORDS),
                  Functions(dead_letter=TOPIC))  # fmt: skip

    async def scenario() -> None:
        await setup.accept()
        setup.clock.now += 61
        await setup.drain()

    asyncio.run(scenario())
    assert setup.runner.calls == []
    (record,) = setup.records()
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record
    (dead,) = setup.sent("publish")
    assert dead["MessageAttributes"]["ErrorMessage"]["StringValue"] == "Event age exceeded"


def test_throttles_back_off_without_using_up_attempts() -> None:
    setup = Setup(EventInvokeConfig("fn", "$LATEST", maximum_retry_attempts=0))
    throttled = TooManyRequests("ReservedFunctionConcurrentInvocationLimitExceeded")
    setup.runner.outcomes = [throttled, throttled, throttled, OK]

    async def scenario() -> int:
        await setup.accept()
        return await setup.drain()

    assert asyncio.run(scenario()) == 4
    assert [c.throttles for c in setup.runner.calls] == [0, 1, 2, 3]
    assert [c.attempts for c in setup.runner.calls] == [0, 0, 0, 0]
    assert setup.clock.now == START + 1 + 2 + 4
    assert setup.metric("nimbus_async_events_retried_total", function="fn", reason="throttle") == 3


def test_platform_faults_are_retried_like_throttles() -> None:
    setup = Setup()
    setup.runner.outcomes = [RuntimeError("the environment could not start"), OK]

    async def scenario() -> int:
        await setup.accept()
        return await setup.drain()

    assert asyncio.run(scenario()) == 2
    assert setup.runner.calls[1].throttles == 1


def test_an_event_of_a_deleted_function_is_dropped() -> None:
    setup = Setup(EventInvokeConfig("fn", "$LATEST", on_failure=RECORDS))
    setup.runner.outcomes = [ResourceNotFound("Function not found")]

    async def scenario() -> int:
        await setup.accept()
        return await setup.drain()

    assert asyncio.run(scenario()) == 1
    assert setup.aws.calls == [] and len(setup.queue) == 0
    assert setup.metric("nimbus_async_events_dropped_total", function="fn", reason="FunctionNotFound") == 1


def test_a_lambda_destination_gets_the_record_as_a_queued_event() -> None:
    setup = Setup(EventInvokeConfig("fn", "$LATEST", on_success="arn:aws:lambda:us-east-1:000000000000:function:b"))

    async def scenario() -> list[tuple[str, Any]]:
        await setup.accept()
        await setup.attempt()
        events = await setup.queue.claim(10, setup.clock.now, setup.clock.now + 60)
        return [(e.function_name, orjson.loads(e.payload)) for e in events]

    ((name, record),) = asyncio.run(scenario())
    assert name == "b"
    assert record["requestContext"]["condition"] == "Success"


def test_an_event_bridge_destination_gets_a_lambda_sourced_event() -> None:
    setup = Setup(EventInvokeConfig("fn", "$LATEST", on_failure=BUS, maximum_retry_attempts=0))
    setup.runner.outcomes = [FAILED]

    async def scenario() -> None:
        await setup.accept()
        await setup.drain()

    asyncio.run(scenario())
    ((entry,),) = [call["Entries"] for call in setup.sent("put_events")]
    assert (entry["Source"], entry["DetailType"]) == ("lambda", "Lambda Function Invocation Result - Failure")
    assert orjson.loads(entry["Detail"])["requestContext"]["condition"] == "RetriesExhausted"


def test_an_unreachable_destination_does_not_keep_the_event() -> None:
    setup = Setup(EventInvokeConfig("fn", "$LATEST", on_success=RECORDS))
    setup.aws.fail = True

    async def scenario() -> int:
        await setup.accept()
        return await setup.drain()

    assert asyncio.run(scenario()) == 1
    assert len(setup.queue) == 0
    assert setup.metric("nimbus_async_deliveries_total", kind="sqs", outcome="failed") == 1


def test_run_drains_the_queue_within_the_concurrency_limit() -> None:
    setup = Setup(concurrency=3)
    setup.runner.gate = asyncio.Event()

    async def scenario() -> int:
        for i in range(10):
            await setup.queue.put([NewEvent(f"r{i}", "fn", None, b"{}", setup.clock.now)])
        worker = asyncio.create_task(setup.workers.run())
        while len(setup.runner.calls) < 3:
            await asyncio.sleep(0.01)
        assert setup.runner.gate is not None
        setup.runner.gate.set()
        while len(setup.queue):
            await asyncio.sleep(0.01)
        setup.workers.stop()
        await asyncio.wait_for(worker, timeout=10)
        return len(setup.runner.calls)

    assert asyncio.run(scenario()) == 10
    assert setup.runner.most_running == 3


def test_events_claimed_before_a_restart_run_again() -> None:
    setup = Setup()

    async def scenario() -> list[str]:
        await setup.queue.put([NewEvent("interrupted", "fn", None, b"{}", setup.clock.now)])
        await setup.queue.claim(1, setup.clock.now, setup.clock.now + 900)  # the worker that died with the server
        worker = asyncio.create_task(setup.workers.run())
        while len(setup.queue):
            await asyncio.sleep(0.01)
        setup.workers.stop()
        await asyncio.wait_for(worker, timeout=10)
        return [c.request_id for c in setup.runner.calls]

    assert asyncio.run(scenario()) == ["interrupted"]


def test_stop_lets_running_events_finish() -> None:
    setup = Setup()
    setup.runner.gate = asyncio.Event()

    async def scenario() -> int:
        await setup.accept()
        worker = asyncio.create_task(setup.workers.run(drain_timeout=30))
        while not setup.runner.calls:
            await asyncio.sleep(0.01)
        setup.workers.stop()
        await asyncio.sleep(0.05)
        assert setup.runner.gate is not None
        setup.runner.gate.set()
        await asyncio.wait_for(worker, timeout=10)
        return len(setup.queue)

    assert asyncio.run(scenario()) == 0
