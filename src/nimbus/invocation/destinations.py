"""Delivery of invocation records (OnSuccess / OnFailure destinations) and dead letters (DeadLetterConfig).

A Lambda target is another function of this server: the record is its event, queued like any Event invoke (so it
is durable before the source event is acked). SQS, SNS and EventBridge targets are reached with boto3, in threads,
which honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (SQS, SNS, EVENTBRIDGE): moto, ElasticMQ or AWS.

Errors (foreign exceptions are translated once, here):

    DeliveryError    the target refused the message or could not be reached; the caller logs and counts it
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson

from nimbus.domain.event_invoke import Target, TargetKind, parse_target
from nimbus.domain.invocation_records import event_bridge_entry
from nimbus.errors import NimbusError
from nimbus.invocation.queue import NewEvent

# boto3 service names, by target kind.
_SERVICES = {TargetKind.SQS: "sqs", TargetKind.SNS: "sns", TargetKind.EVENTS: "events"}
# A destination that does not answer must not hold a worker for long; AWS retries nothing here either.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30

ClientFactory = Callable[[str, str], Any]  # (service, region) -> a boto3 client
Enqueue = Callable[[Sequence[NewEvent]], Awaitable[None]]
MessageAttributes = Mapping[str, Mapping[str, str]]


class DeliveryError(NimbusError):
    """A record or dead letter could not be delivered."""


def boto3_clients() -> ClientFactory:
    """boto3 clients from one session, built on first use (a client costs tens of milliseconds to build)."""
    lock = threading.Lock()
    cache: dict[tuple[str, str], Any] = {}
    session: list[Any] = []

    def client(service: str, region: str) -> Any:
        with lock:  # building sessions and clients is not thread-safe in boto3; using a client is
            if (service, region) not in cache:
                import boto3  # the outbound AWS-compatible client; imported only when a destination is used
                from botocore.config import Config

                if not session:
                    session.append(boto3.session.Session())
                config = Config(retries={"mode": "standard"}, connect_timeout=CONNECT_TIMEOUT,
                                read_timeout=READ_TIMEOUT)  # fmt: skip
                cache[(service, region)] = session[0].client(service, region_name=region, config=config)
            return cache[(service, region)]

    return client


class Destinations:
    def __init__(self, enqueue: Enqueue, clients: ClientFactory, clock: Callable[[], float] = time.time) -> None:
        self._enqueue = enqueue
        self._clients = clients
        self._clock = clock
        self._queue_urls: dict[str, str] = {}

    async def send_record(self, arn: str, record: dict[str, Any], function_arn: str) -> TargetKind:
        """Deliver an invocation record to an OnSuccess / OnFailure destination; returns the target's kind."""
        target = _target(arn)
        body = orjson.dumps(record)
        if target.kind is TargetKind.LAMBDA:
            event = NewEvent(str(uuid.uuid4()), target.name, target.qualifier, body, self._clock())
            await self._enqueue([event])
        elif target.kind is TargetKind.EVENTS:
            entry = event_bridge_entry(arn, function_arn, record)
            await self._call(target, _put_events, entry)
        else:
            await self._send(target, body.decode(), None)
        return target.kind

    async def send_dead_letter(self, arn: str, payload: bytes, attributes: MessageAttributes) -> TargetKind:
        """The event as it was, with RequestID / ErrorCode / ErrorMessage attributes, to an SQS queue or SNS topic."""
        target = _target(arn)
        if target.kind not in (TargetKind.SQS, TargetKind.SNS):
            raise DeliveryError(f"{arn} is not an SQS queue or SNS topic")
        # A message body cannot be empty; an empty event reached the function as {}.
        await self._send(target, payload.decode("utf-8", "replace") or "{}", attributes)
        return target.kind

    async def _send(self, target: Target, body: str, attributes: MessageAttributes | None) -> None:
        if target.kind is TargetKind.SQS:
            await self._call(target, self._send_message, body, attributes)
        else:
            await self._call(target, _publish, body, attributes)

    async def _call(self, target: Target, operation: Callable[..., None], *args: Any) -> None:
        try:
            client = await asyncio.to_thread(self._clients, _SERVICES[target.kind], target.region)
            await asyncio.to_thread(operation, client, target, *args)
        except DeliveryError:
            raise
        except Exception as exc:  # botocore's errors, a refused connection, missing credentials: all the same here
            raise DeliveryError(f"{target.arn}: {exc}") from exc

    def _send_message(self, client: Any, target: Target, body: str, attributes: MessageAttributes | None) -> None:
        url = self._queue_urls.get(target.arn)
        if url is None:
            found = client.get_queue_url(QueueName=target.name, QueueOwnerAWSAccountId=target.account)
            url = self._queue_urls[target.arn] = str(found["QueueUrl"])
        client.send_message(QueueUrl=url, MessageBody=body, **_attributes(attributes))


def _publish(client: Any, target: Target, body: str, attributes: MessageAttributes | None) -> None:
    client.publish(TopicArn=target.arn, Message=body, **_attributes(attributes))


def _put_events(client: Any, target: Target, entry: dict[str, Any]) -> None:
    answer = client.put_events(Entries=[entry])
    if answer.get("FailedEntryCount"):
        failed = answer.get("Entries", [{}])[0]
        raise DeliveryError(f"{target.arn}: {failed.get('ErrorCode')}: {failed.get('ErrorMessage')}")


def _attributes(attributes: MessageAttributes | None) -> dict[str, Any]:
    return {"MessageAttributes": {k: dict(v) for k, v in attributes.items()}} if attributes else {}


def _target(arn: str) -> Target:
    target = parse_target(arn)
    if target is None:
        raise DeliveryError(f"{arn} is not a destination nimbus delivers to")
    return target
