"""The composition root: build every component from Settings, start them in order, stop them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from nimbus.api.context import Services
from nimbus.api.platform import build_platform
from nimbus.api.server import LambdaApi
from nimbus.control.event_invoke_configs import EventInvokeConfigService
from nimbus.control.functions import FunctionService
from nimbus.domain.arns import Identity
from nimbus.invocation.async_workers import AsyncWorkers
from nimbus.invocation.destinations import Destinations, boto3_clients
from nimbus.invocation.service import InvokeService
from nimbus.observability.logs import LogSink
from nimbus.observability.metrics import Metrics
from nimbus.runtime import cgroups
from nimbus.runtime.catalogue import own_interpreter
from nimbus.runtime.environment import Environment
from nimbus.runtime.pool import EnvironmentPool, default_cold_start_limit
from nimbus.runtime.python_env import PythonEnvironment
from nimbus.runtime.spec import Credentials, EnvironmentSpec
from nimbus.runtime.zygote import Zygotes
from nimbus.settings import Settings
from nimbus.store.code import CodeStore
from nimbus.store.database import create_engine, migrate, sqlite_url
from nimbus.store.event_invoke_configs import SqlEventInvokeConfigStore
from nimbus.store.event_queue import SqlEventQueue
from nimbus.store.functions import SqlFunctionStore
from nimbus.store.logs import SqlLogStore

log = logging.getLogger(__name__)


@dataclass
class Nimbus:
    """Everything a running server holds; `serve()` owns its lifetime."""

    settings: Settings
    functions: FunctionService
    invoker: InvokeService
    pool: EnvironmentPool
    logs: LogSink
    metrics: Metrics
    memory: cgroups.MemoryController | None
    zygotes: Zygotes
    api: LambdaApi
    event_queue: SqlEventQueue
    async_workers: AsyncWorkers
    ready: bool = False

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Background work (reaper, log flusher) lives in one task group; leaving the block ends all of it."""
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(self.pool.run_reaper()),
                group.create_task(self.logs.run()),
                # The server's own interpreter runs most functions; its zygote preloads while the server comes up.
                group.create_task(self.zygotes.prestart(own_interpreter())),
                group.create_task(self.event_queue.run()),
            ]
            workers = group.create_task(self.async_workers.run(self.settings.drain_timeout))
            self.functions.recover()
            self.ready = True
            try:
                yield
            finally:
                self.ready = False
                self.async_workers.stop()  # running events finish (within the drain timeout) before the pool closes
                await workers
                await self.functions.close()
                await self.pool.close()
                await self.zygotes.close()
                for task in tasks:
                    task.cancel()
        await self.logs.flush()
        if self.memory is not None:
            cgroups.remove_tree(self.memory)


def build(settings: Settings) -> Nimbus:
    # Environments run with their own working directory: every path handed to them must be absolute.
    settings = dataclasses.replace(settings, data_dir=settings.data_dir.resolve())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sqlite_url(settings.data_dir))
    migrate(engine)
    identity = Identity(settings.region, settings.account_id)
    credentials = Credentials(settings.access_key_id, settings.secret_access_key)
    code = CodeStore(settings.data_dir / "code")
    memory = cgroups.detect()
    cold_starts = settings.cold_start_concurrency or default_cold_start_limit()
    # Each zygote keeps at least as many blank children as cold starts may run at once (more while bursts come).
    zygotes = Zygotes(settings.preload, memory, blanks=cold_starts)
    pool = EnvironmentPool(
        _environment_factory(memory, zygotes), keep_alive=settings.keep_alive, cold_start_limit=cold_starts
    )
    logs = LogSink(SqlLogStore(engine))
    metrics = Metrics()
    functions = FunctionService(SqlFunctionStore(engine), code, pool, identity, settings.account_concurrency)
    event_queue = SqlEventQueue(engine)
    invoker = InvokeService(
        functions, pool, code, logs, identity, credentials, settings.init_timeout, metrics, event_queue
    )
    event_configs = EventInvokeConfigService(SqlEventInvokeConfigStore(engine), functions, identity)
    destinations = Destinations(event_queue.put, boto3_clients())
    async_workers = AsyncWorkers(event_queue, invoker, event_configs, functions, destinations, identity,
                                 metrics.async_events, settings.async_retry_scale)  # fmt: skip
    services = Services(functions, invoker, identity, settings.base_url, _url_secret(settings), event_configs)
    secrets = {settings.access_key_id: settings.secret_access_key}
    nimbus: Nimbus
    platform = build_platform(services, code, logs, secrets.get, metrics.render, lambda: nimbus.ready)
    api = LambdaApi(services, secrets.get, platform)
    nimbus = Nimbus(settings, functions, invoker, pool, logs, metrics, memory, zygotes, api,
                    event_queue=event_queue, async_workers=async_workers)  # fmt: skip
    return nimbus


def _environment_factory(memory: cgroups.MemoryController | None, zygotes: Zygotes) -> Any:
    def create(spec: EnvironmentSpec) -> Environment:
        if spec.runtime.startswith("provided"):
            # A custom runtime's bootstrap is a program of its own: it is started as one (an exec is unavoidable,
            # and a fork of a zygote would be thrown away by it).
            from nimbus.runtime.runtime_api import RuntimeApiEnvironment

            return RuntimeApiEnvironment(spec, memory)
        return PythonEnvironment(spec, memory, zygotes)

    return create


def _url_secret(settings: Settings) -> bytes:
    return hashlib.sha256(f"nimbus-code-links:{settings.secret_access_key}".encode()).digest()


class AsgiApp:
    """The ASGI callable uvicorn runs: Lambda API + platform, with the app's lifetime bound to lifespan."""

    def __init__(self, nimbus: Nimbus) -> None:
        self._nimbus = nimbus
        self._running: contextlib.AbstractAsyncContextManager[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self._nimbus.api(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._running = self._nimbus.running()
                await self._running.__aenter__()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._running is not None:
                    await self._running.__aexit__(None, None, None)
                await send({"type": "lifespan.shutdown.complete"})
                return
