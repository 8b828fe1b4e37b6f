"""The per-request GraphQL context: who is asking, and the shared runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from renraku.access.actor import Actor
from renraku.access.gate import Gate
from renraku.errors import Unauthenticated
from renraku.loaders import Loaders
from renraku.runtime import Runtime


@dataclass
class Context:
    runtime: Runtime
    request: Request | WebSocket
    response: Response | WebSocket | None
    actor: Actor | None
    client_address: str
    _gate: Gate | None = field(default=None, repr=False)
    _loaders: Loaders | None = field(default=None, repr=False)

    def require_actor(self) -> Actor:
        if self.actor is None:
            raise Unauthenticated
        return self.actor

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.runtime.db)
        return self._loaders

    def use_loaders(self, loaders: Loaders) -> None:
        """Share rows already read (the live feed reads a batch of events' rows at once)."""
        self._loaders = loaders

    @property
    def gate(self) -> Gate:
        """The request's access gate; asking for it without a signed-in actor is UNAUTHENTICATED."""
        if self._gate is None:
            self._gate = Gate(self.require_actor(), self.runtime.db)
        return self._gate


Info: TypeAlias = StrawberryInfo[Context, None]
