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
from nimbus.control.aliases import AliasService
from nimbus.control.concurrency import ConcurrencyService
from nimbus.control.event_invoke_configs import EventInvokeConfigService
from nimbus.control.function_settings import FunctionSettingsService
from nimbus.control.function_urls import FunctionUrlService
from nimbus.control.functions import FunctionService
from nimbus.control.layers import LayerService
from nimbus.control.policies import PolicyService
from nimbus.control.tags import TagService
from nimbus.control.versions import VersionService
from nimbus.domain.arns import Identity
from nimbus.events.function_urls import FunctionUrlGateway
from nimbus.invocation.async_workers import AsyncWorkers
from nimbus.invocation.destinations import Destinations, boto3_clients
from nimbus.invocation.limits import ConcurrencyLimits
from nimbus.invocation.router import VersionRouter
from nimbus.invocation.service import InvokeService
from nimbus.invocation.snapstart import SnapshotMaker
from nimbus.invocation.snapstart import failed_reason as snapstart_failed_reason
from nimbus.observability.logs import LogSink
from nimbus.observability.metrics import Metrics
from nimbus.runtime import cgroups, isolation
from nimbus.runtime.catalogue import own_interpreter
from nimbus.runtime.environment import Environment
from nimbus.runtime.pool import EnvironmentPool, default_cold_start_limit
from nimbus.runtime.python_env import PythonEnvironment
from nimbus.runtime.sandboxes import Sandboxes
from nimbus.runtime.snapshots import Snapshots
from nimbus.runtime.spec import Credentials, EnvironmentSpec
from nimbus.runtime.zygote import Zygotes
from nimbus.settings import Settings
from nimbus.store.aliases import CachedAliasStore, SqlAliasStore
from nimbus.store.code import CodeStore
from nimbus.store.concurrency import SqlConcurrencyStore
from nimbus.store.database import create_engine, migrate, sqlite_url
from nimbus.store.event_invoke_configs import SqlEventInvokeConfigStore
from nimbus.store.event_queue import SqlEventQueue
from nimbus.store.function_settings import SqlFunctionSettingsStore
from nimbus.store.function_urls import SqlFunctionUrlStore
from nimbus.store.functions import SqlFunctionStore
from nimbus.store.layers import SqlLayerStore
from nimbus.store.logs import SqlLogStore
from nimbus.store.policies import SqlPolicyStore
from nimbus.store.tags import SqlTagStore

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
    sandboxes: Sandboxes
    api: LambdaApi
    event_queue: SqlEventQueue
    async_workers: AsyncWorkers
    concurrency: ConcurrencyService
    versions: VersionService
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
            self.versions.recover()  # SnapStart versions a crash left Pending: their snapshots are made again
            await self.concurrency.start()  # reservations, and provisioned environments started again
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
        self.sandboxes.isolation.close()  # every environment is gone: remove nimbus's cgroups and tmp directories


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
    sandboxes = Sandboxes(isolation.detect(settings.isolation, settings.data_dir, memory))  # logs the level
    cold_starts = settings.cold_start_concurrency or default_cold_start_limit()
    # Each zygote keeps at least as many blank children as cold starts may run at once (more while bursts come).
    zygotes = Zygotes(
        settings.preload, memory, blanks=cold_starts, limits=sandboxes.blank_limits, blank_plan=sandboxes.blank_plan()
    )
    snapshots = Snapshots(zygotes, sandboxes)  # SnapStart; its processes end with their zygote
    pool = EnvironmentPool(
        _environment_factory(memory, zygotes, sandboxes, snapshots),
        keep_alive=settings.keep_alive,
        cold_start_limit=cold_starts,
    )
    logs = LogSink(SqlLogStore(engine))
    metrics = Metrics()
    metrics.watch_environments(pool.counts)
    function_store = SqlFunctionStore(engine)
    alias_store = CachedAliasStore(SqlAliasStore(engine))
    layers = LayerService(SqlLayerStore(engine), code, identity)
    functions = FunctionService(function_store, code, pool, identity, settings.account_concurrency,
                                aliases=alias_store, layers=layers, snapshots=snapshots)  # fmt: skip
    snapshot_maker = SnapshotMaker(snapshots, lambda config: invoker.environment_spec(config))  # noqa: PLW0108 - built below
    versions = VersionService(functions, function_store, identity, snapshot_maker, snapstart_failed_reason)
    aliases = AliasService(alias_store, functions, identity)
    event_queue = SqlEventQueue(engine)
    limits = ConcurrencyLimits(settings.account_concurrency)
    invoker = InvokeService(
        functions, pool, code, logs, identity, credentials, settings.init_timeout, metrics, event_queue,
        router=VersionRouter(functions, functions), limits=limits,
    )  # fmt: skip
    concurrency = ConcurrencyService(SqlConcurrencyStore(engine), functions, limits, pool.provisioned,
                                     invoker.environment_spec, identity)  # fmt: skip
    event_configs = EventInvokeConfigService(SqlEventInvokeConfigStore(engine), functions, identity)
    policies = PolicyService(SqlPolicyStore(engine), functions, aliases, identity)
    tags = TagService(SqlTagStore(engine), functions, identity)
    tags.adopt_legacy()  # tags kept in configurations before migration 0005
    function_settings = FunctionSettingsService(SqlFunctionSettingsStore(engine), functions)
    destinations = Destinations(event_queue.put, boto3_clients())
    async_workers = AsyncWorkers(event_queue, invoker, event_configs, functions, destinations, identity,
                                 metrics.async_events, settings.async_retry_scale)  # fmt: skip
    function_urls = FunctionUrlService(
        SqlFunctionUrlStore(engine),
        functions,
        identity,
        settings.base_url,
        alias_exists=lambda name, alias: alias_store.get(name, alias) is not None,
    )
    services = Services(functions, invoker, identity, settings.base_url, _url_secret(settings), event_configs,
                        policies=policies, tags=tags, function_settings=function_settings,
                        versions=versions, aliases=aliases, layers=layers, concurrency=concurrency,
                        function_urls=function_urls)  # fmt: skip
    secrets = {settings.access_key_id: settings.secret_access_key}
    nimbus: Nimbus
    platform = build_platform(services, code, logs, secrets.get, metrics.render, lambda: nimbus.ready)
    api = LambdaApi(services, secrets.get, platform, FunctionUrlGateway(function_urls, invoker, identity, secrets.get))
    nimbus = Nimbus(settings, functions, invoker, pool, logs, metrics, memory, zygotes, sandboxes, api,
                    event_queue=event_queue, async_workers=async_workers, concurrency=concurrency,
                    versions=versions)  # fmt: skip
    return nimbus


def _environment_factory(
    memory: cgroups.MemoryController | None, zygotes: Zygotes, sandboxes: Sandboxes, snapshots: Snapshots
) -> Any:
    def create(spec: EnvironmentSpec) -> Environment:
        if spec.runtime.startswith("provided"):
            # A custom runtime's bootstrap is a program of its own: it is started as one (an exec is unavoidable,
            # and a fork of a zygote would be thrown away by it).
            from nimbus.runtime.runtime_api import RuntimeApiEnvironment

            return RuntimeApiEnvironment(spec, memory, sandboxes)
        return PythonEnvironment(spec, memory, zygotes, sandboxes, snapshots)

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
