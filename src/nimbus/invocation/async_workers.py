"""Workers that drain the asynchronous invocation queue: run, retry, give up, deliver records and dead letters.

`run()` is one task of the app's task group. It claims events (with a lease, so an event whose worker dies with
the server is handed out again) and runs each in a task of its own TaskGroup, through the same invoke path as a
synchronous call. What follows a run is decided by domain.retries (reference/lambda-data-plane.md §6):

    success                 -> OnSuccess record; done
    function error          -> retry after 1 and 2 minutes, then OnFailure record + dead letter (RetriesExhausted)
    throttled / fault       -> retry with backoff (1 s ... 5 min) without using up an attempt
    older than the max age  -> OnFailure record + dead letter (EventAgeExceeded)
    function deleted        -> dropped

An event is acked only after its record and dead letter are handed on, so nothing is lost between the two; a
crash in between runs it again (delivery is at least once, and the request id stays the same on every attempt).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from nimbus.domain.arns import LATEST, Identity
from nimbus.domain.event_invoke import EventInvokeConfig, TargetKind, parse_target
from nimbus.domain.functions import FunctionConfig
from nimbus.domain.invocation_records import (
    AttemptResponse,
    RecordContext,
    dead_letter_attributes,
    error_message,
    invocation_record,
)
from nimbus.domain.retries import Condition, GiveUp, RetryPolicy, after_function_error, after_throttle
from nimbus.errors import PlatformFault, ResourceNotFound, ServiceError, TooManyRequests
from nimbus.invocation.destinations import DeliveryError, Destinations
from nimbus.invocation.queue import EventQueue, QueuedEvent
from nimbus.observability.metrics import AsyncEventMetrics

log = logging.getLogger(__name__)

# Events running at once, across all functions: each holds an execution environment (a process) while it runs.
# Enough to keep I/O-bound handlers busy on a small machine without forking an environment per queued event.
CONCURRENCY = 16
# A claimed event is handed out again if not finished by then: longer than any run (900 s timeout, 10 s init).
LEASE_SECONDS = 960.0
# Idle workers look again at least this often; new events and retries falling due wake them sooner.
IDLE_POLL = 1.0
# How often queue depth and oldest age are read for the metrics.
STATS_INTERVAL = 1.0

Key = tuple[str, str]


class EventRunner(Protocol):
    async def run_event(self, event: QueuedEvent) -> AttemptResponse:
        """Run the event once. ResourceNotFound: the function is gone. Any other error: it could not run
        (throttled, or a fault of the platform), which does not use up an attempt."""
        ...


class ConfigSource(Protocol):
    def effective(self, keys: Iterable[Key]) -> dict[Key, EventInvokeConfig]: ...


class FunctionLookup(Protocol):
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig: ...


@dataclass(frozen=True)
class Failure:
    """Why an event is given up on: the last attempt's response if it ran, and the dead letter's ErrorCode."""

    condition: Condition
    response: AttemptResponse | None
    error_code: int
    error: str


class AsyncWorkers:
    def __init__(
        self,
        queue: EventQueue,
        runner: EventRunner,
        configs: ConfigSource,
        functions: FunctionLookup,
        destinations: Destinations,
        identity: Identity,
        metrics: AsyncEventMetrics,
        retry_scale: float = 1.0,
        clock: Callable[[], float] = time.time,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self._queue = queue
        self._runner = runner
        self._configs = configs
        self._functions = functions
        self._destinations = destinations
        self._identity = identity
        self._metrics = metrics
        self._scale = retry_scale
        self._clock = clock
        self._concurrency = concurrency
        self._running: set[asyncio.Task[None]] = set()
        # Claimed ahead, to start as soon as a slot frees: a claim is a commit away, so one claim fills all slots.
        self._ready: collections.deque[tuple[QueuedEvent, EventInvokeConfig]] = collections.deque()
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()

    # -- lifetime ----------------------------------------------------------------------------------------------
    async def run(self, drain_timeout: float = 30.0) -> None:
        """Claim and run events until stop() (then running events get `drain_timeout` to finish) or cancellation."""
        recovered = await self._queue.recover(self._clock())
        if recovered:
            log.info("%d asynchronous events were running when the server stopped; they run again", recovered)
        async with asyncio.TaskGroup() as group:
            background = [group.create_task(self._dispatch(group)), group.create_task(self._report_stats())]
            await self._stopping.wait()
            for task in background:
                task.cancel()
            await self._release_ready()
            if self._running:
                await asyncio.wait(self._running, timeout=drain_timeout)
            for task in self._running:
                task.cancel()  # its event is handed out again after the restart

    def stop(self) -> None:
        self._stopping.set()

    # -- dispatching -------------------------------------------------------------------------------------------
    async def _dispatch(self, group: asyncio.TaskGroup) -> None:
        while True:
            await self._free_slot()
            if not self._ready:
                try:
                    await self._claim()
                except PlatformFault as fault:  # the store is unwell (disk full, locked): try again in a while
                    log.error("could not take asynchronous events from the queue: %s", fault)
                    await asyncio.sleep(IDLE_POLL)
                continue
            event, config = self._ready.popleft()
            task = group.create_task(self._guarded(event, config))
            self._running.add(task)
            task.add_done_callback(self._finished)

    async def _claim(self) -> None:
        """Fill the ready list with up to `concurrency` events and the configs that apply to them, or idle."""
        now = self._clock()
        events = await self._queue.claim(self._concurrency, now, now + LEASE_SECONDS)
        if not events:
            await self._idle()
            return
        try:
            configs = await asyncio.to_thread(self._configs.effective, {_key(event) for event in events})
        except PlatformFault:
            for event in events:  # not run: hand them out again soon rather than when their lease ends
                await self._queue.retry(event, now + IDLE_POLL)
            raise
        self._ready.extend((event, configs[_key(event)]) for event in events)

    async def _release_ready(self) -> None:
        """Stopping: events claimed but not started are handed back, to run after the restart (or elsewhere)."""
        while self._ready:
            event, _ = self._ready.popleft()
            try:
                await self._queue.retry(event, self._clock())
            except PlatformFault:
                return  # their leases end, or the restart's recovery hands them out

    async def _free_slot(self) -> None:
        while len(self._running) >= self._concurrency:
            self._slot_freed.clear()
            await self._slot_freed.wait()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slot_freed.set()

    async def _idle(self) -> None:
        due = await self._queue.next_visible_at()
        timeout = IDLE_POLL if due is None else min(max(due - self._clock(), 0.001), IDLE_POLL)
        await self._queue.wait(timeout)

    async def _report_stats(self) -> None:
        while True:
            try:
                self._metrics.record_queue(await self._queue.stats(), self._clock())
            except PlatformFault as fault:
                log.warning("could not read the queue's depth: %s", fault)
            await asyncio.sleep(STATS_INTERVAL)

    async def _guarded(self, event: QueuedEvent, config: EventInvokeConfig) -> None:
        """One event's task. A fault here must not end the other events' tasks: it is logged, and the event's
        lease runs out so that it is handed out again."""
        self._metrics.in_flight.inc()
        try:
            await self.process(event, config)
        except Exception:
            log.exception("asynchronous event %s of %s failed inside nimbus", event.request_id, event.function_name)
        finally:
            self._metrics.in_flight.dec()

    # -- one event ---------------------------------------------------------------------------------------------
    async def process(self, event: QueuedEvent, config: EventInvokeConfig) -> None:
        """Run a claimed event once, then ack it, schedule its retry, or give up on it."""
        policy = config.policy(self._scale)
        if policy.is_expired(event.enqueued_at, self._clock()):
            # It waited, throttled or behind other events, until it was too old: the platform's 429, not the code's.
            await self._give_up(event, config, Failure(Condition.EVENT_AGE_EXCEEDED, None, 429, "Event age exceeded"))
            return
        try:
            response = await self._runner.run_event(event)
        except ResourceNotFound:
            log.info("dropped asynchronous event %s: function %s no longer exists", event.request_id,
                     event.function_name)  # fmt: skip
            self._metrics.dropped.labels(event.function_name, "FunctionNotFound").inc()
            await self._queue.ack([event.receipt])
            return
        except TooManyRequests as throttle:  # over its concurrency: the event waits (backoff), no attempt used
            await self._could_not_run(event, config, policy, throttle)
            return
        except Exception as exc:  # the platform could not run it: back off too, no attempt used
            await self._could_not_run(event, config, policy, exc)
            return
        ran = dataclasses.replace(event, attempts=event.attempts + 1)
        if response.function_error is None:
            await self._succeeded(ran, config, response)
        else:
            await self._function_failed(ran, config, policy, response)

    async def _succeeded(self, event: QueuedEvent, config: EventInvokeConfig, response: AttemptResponse) -> None:
        if config.on_success:
            await self._send_record(config.on_success, event, Condition.SUCCESS, response)
        await self._queue.ack([event.receipt])

    async def _function_failed(
        self, event: QueuedEvent, config: EventInvokeConfig, policy: RetryPolicy, response: AttemptResponse
    ) -> None:
        decision = after_function_error(policy, event.enqueued_at, event.attempts, event.throttles, self._clock())
        if isinstance(decision, GiveUp):
            error = error_message(response, "Unhandled")
            await self._give_up(event, config, Failure(decision.condition, response, response.status_code, error))
            return
        log.debug("asynchronous event %s failed (attempt %d); retrying", event.request_id, event.attempts)
        self._metrics.retried.labels(event.function_name, "function_error").inc()
        await self._queue.retry(event, decision.at)

    async def _could_not_run(
        self, event: QueuedEvent, config: EventInvokeConfig, policy: RetryPolicy, error: Exception
    ) -> None:
        status = error.status if isinstance(error, ServiceError) else 500
        if status >= 500:
            log.warning("asynchronous event %s of %s could not run: %s", event.request_id, event.function_name,
                        error, exc_info=not isinstance(error, ServiceError))  # fmt: skip
        throttled = dataclasses.replace(event, throttles=event.throttles + 1)
        decision = after_throttle(policy, event.enqueued_at, event.attempts, throttled.throttles, self._clock())
        if isinstance(decision, GiveUp):
            await self._give_up(throttled, config, Failure(decision.condition, None, status, str(error)))
            return
        self._metrics.retried.labels(event.function_name, "throttle").inc()
        await self._queue.retry(throttled, decision.at)

    async def _give_up(self, event: QueuedEvent, config: EventInvokeConfig, failure: Failure) -> None:
        log.info("gave up on asynchronous event %s of %s after %d attempts: %s", event.request_id,
                 event.function_name, event.attempts, failure.condition.value)  # fmt: skip
        if config.on_failure:
            await self._send_record(config.on_failure, event, failure.condition, failure.response)
        dead_letter = self._dead_letter_target(event)
        if dead_letter:
            attributes = dead_letter_attributes(event.request_id, failure.error_code, failure.error)
            sending = self._destinations.send_dead_letter(dead_letter, event.payload, attributes)
            await self._deliver(dead_letter, sending)
        self._metrics.dropped.labels(event.function_name, failure.condition.value).inc()
        await self._queue.ack([event.receipt])

    # -- delivery ----------------------------------------------------------------------------------------------
    async def _send_record(
        self, arn: str, event: QueuedEvent, condition: Condition, response: AttemptResponse | None
    ) -> None:
        function_arn = self._identity.function_arn(event.function_name, event.qualifier or LATEST)
        context = RecordContext(event.request_id, function_arn, condition, event.attempts, event.payload)
        record = invocation_record(context, response, dt.datetime.fromtimestamp(self._clock(), dt.UTC))
        await self._deliver(arn, self._destinations.send_record(arn, record, function_arn))

    async def _deliver(self, arn: str, delivery: Awaitable[TargetKind]) -> None:
        """A destination that cannot be reached loses its message, as on AWS (which counts DeadLetterErrors and
        DestinationDeliveryFailures): the event is not retried for it."""
        target = parse_target(arn)
        kind = target.kind.value if target is not None else "invalid"
        try:
            await delivery
        except DeliveryError as error:
            log.warning("could not deliver an asynchronous invocation result: %s", error)
            self._metrics.deliveries.labels(kind, "failed").inc()
            return
        self._metrics.deliveries.labels(kind, "delivered").inc()

    def _dead_letter_target(self, event: QueuedEvent) -> str | None:
        try:
            config = self._functions.get(event.function_name, event.qualifier)
        except ResourceNotFound:
            return None
        dead_letter: Mapping[str, Any] = config.passthrough.get("DeadLetterConfig") or {}
        return str(dead_letter.get("TargetArn") or "") or None


def _key(event: QueuedEvent) -> Key:
    return event.function_name, event.qualifier or LATEST
