"""What an operation handler receives: the validated input members and the services it may call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nimbus.api.wire import WireResponse
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
from nimbus.invocation.service import InvokeService


@dataclass(frozen=True)
class Services:
    functions: FunctionService
    invoker: InvokeService
    identity: Identity
    base_url: str
    url_secret: bytes  # signs Code.Location download links
    event_configs: EventInvokeConfigService
    policies: PolicyService
    tags: TagService
    function_settings: FunctionSettingsService
    versions: VersionService
    aliases: AliasService
    concurrency: ConcurrencyService
    layers: LayerService
    function_urls: FunctionUrlService


@dataclass(frozen=True)
class Call:
    operation: str
    params: dict[str, Any]
    services: Services
    request_id: str = ""  # the response's x-amzn-RequestId; an invoke gives it to the function as its request id


Handler = Callable[[Call], Awaitable[WireResponse]]
