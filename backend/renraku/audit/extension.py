"""Audit each GraphQL operation's reads as one record (see access/gate.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension

from renraku.context import Context


class ReadAudit(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        # Signed out: the gate was never available, so nothing was read.
        if not isinstance(context, Context) or context.actor is None:
            return
        gate = context.gate
        if gate.has_touched:
            await gate.flush(
                context.runtime.read_auditor, operation=self.execution_context.operation_name
            )
