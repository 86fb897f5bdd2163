"""Concurrency accounting: may this invoke run now, or is it throttled?

Every invoke (synchronous or an asynchronous event's attempt) holds one slot for as long as it runs, as AWS counts
concurrency (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html):

- a function with reserved concurrency N runs at most N at once, and those N are its own: no other function can
  take them. Over N: TooManyRequestsException, Reason ReservedFunctionConcurrentInvocationLimitExceeded (0 disables
  the function);
- a function without a reservation first uses its provisioned concurrency (also its own), then the shared
  unreserved pool: the account limit minus every reservation and minus the provisioned concurrency of functions
  without a reservation. When that pool is used up: Reason ConcurrentInvocationLimitExceeded.

Pure accounting (no I/O, no clock): the control plane tells it the settings, the invoke path takes and returns
slots. Everything runs on the event loop's thread, so no lock is needed.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from dataclasses import dataclass

from nimbus.errors import TooManyRequests


class Reason(enum.StrEnum):
    """TooManyRequestsException.Reason values nimbus produces (the model's ThrottleReason enum has more)."""

    ACCOUNT = "ConcurrentInvocationLimitExceeded"
    RESERVED = "ReservedFunctionConcurrentInvocationLimitExceeded"


@dataclass
class _Usage:
    own: int = 0  # slots of the function's reservation or provisioned concurrency
    shared: int = 0  # slots of the shared unreserved pool


@dataclass(frozen=True)
class Slot:
    """One running invoke's hold; `shared` says which pool it came from, so it is returned there."""

    function_name: str
    shared: bool


class ConcurrencyLimits:
    def __init__(self, account_limit: int) -> None:
        self.account_limit = account_limit
        self._reserved: dict[str, int] = {}
        self._provisioned: dict[str, int] = {}  # function -> provisioned concurrency over all its qualifiers
        self._usage: dict[str, _Usage] = {}
        self._shared_in_use = 0

    # -- settings (from the control plane) -----------------------------------------------------------------------
    def set_reserved(self, function_name: str, reserved: int | None) -> None:
        if reserved is None:
            self._reserved.pop(function_name, None)
        else:
            self._reserved[function_name] = reserved

    def set_provisioned(self, function_name: str, total: int) -> None:
        if total:
            self._provisioned[function_name] = total
        else:
            self._provisioned.pop(function_name, None)

    def reserved(self, function_name: str) -> int | None:
        return self._reserved.get(function_name)

    def reservations(self) -> dict[str, int]:
        return dict(self._reserved)

    @property
    def unreserved(self) -> int:
        """GetAccountSettings' UnreservedConcurrentExecutions: the account limit minus every reservation."""
        return self.account_limit - sum(self._reserved.values())

    @property
    def shared_pool(self) -> int:
        """What functions without a reservation share beyond their own provisioned concurrency."""
        provisioned = sum(n for name, n in self._provisioned.items() if name not in self._reserved)
        return self.unreserved - provisioned

    # -- invokes -------------------------------------------------------------------------------------------------
    def acquire(self, function_name: str) -> Slot:
        """A slot for one invoke of the function, or TooManyRequests with AWS's reason."""
        usage = self._usage.setdefault(function_name, _Usage())
        reserved = self._reserved.get(function_name)
        if reserved is not None:
            if usage.own >= reserved:
                self._forget_if_idle(function_name, usage)
                raise TooManyRequests(Reason.RESERVED.value)
            usage.own += 1
            return Slot(function_name, shared=False)
        if usage.own < self._provisioned.get(function_name, 0):
            usage.own += 1
            return Slot(function_name, shared=False)
        if self._shared_in_use >= self.shared_pool:
            self._forget_if_idle(function_name, usage)
            raise TooManyRequests(Reason.ACCOUNT.value)
        usage.shared += 1
        self._shared_in_use += 1
        return Slot(function_name, shared=True)

    def release(self, slot: Slot) -> None:
        usage = self._usage.get(slot.function_name)
        if usage is None:
            return
        if slot.shared:
            usage.shared -= 1
            self._shared_in_use -= 1
        else:
            usage.own -= 1
        self._forget_if_idle(slot.function_name, usage)

    @contextlib.contextmanager
    def lease(self, function_name: str) -> Iterator[Slot]:
        """`with limits.lease(name):` around one invoke; the slot is returned on every path."""
        slot = self.acquire(function_name)
        try:
            yield slot
        finally:
            self.release(slot)

    def running(self, function_name: str) -> int:
        usage = self._usage.get(function_name)
        return 0 if usage is None else usage.own + usage.shared

    def _forget_if_idle(self, function_name: str, usage: _Usage) -> None:
        if usage.own == 0 and usage.shared == 0:
            self._usage.pop(function_name, None)
