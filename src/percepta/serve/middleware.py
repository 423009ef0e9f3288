"""The server's two ASGI middlewares, outermost first: :class:`BodyLimit` (413 for a body over the limit, before
or while it is read) and :class:`ShedWhenFull` (503 at once while every worker and queue slot is taken)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import error_response
from .pool import InferencePool, PoolFull


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 (JSON) and is not read any further.

    A declared ``Content-Length`` over the limit is answered before the body is read; a chunked body is
    counted as it arrives, and once over the limit the handler's own answer (the body parser fails) is
    replaced by the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _message(self) -> str:
        return f"upload too large: the limit is {self.max_bytes / 2**20:.3g} MiB ({self.max_bytes} bytes)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        try:
            too_long = declared is not None and int(declared) > self.max_bytes
        except ValueError:
            await error_response(400, "bad Content-Length header")(scope, receive, send)
            return
        if too_long:
            await error_response(413, self._message())(scope, receive, send)
            return
        received, over, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    raise _BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:  # the app's answer to a body it could not finish reading: replaced by the 413 below
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:  # whatever the app made of the cut-off body, the answer is the 413
            if not over:
                raise
        if over and not started:
            await error_response(413, self._message())(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class ShedWhenFull:
    """ASGI middleware: while every worker and queue slot is taken, an image request gets 503 at once.

    The answer (with ``Retry-After``) comes before the upload is read or parsed, so that a flood of requests
    costs the server almost nothing beyond the work it has already accepted; the check is repeated when the
    job is submitted, so a request that got past it here can still be refused there.
    """

    def __init__(self, app: ASGIApp, pool: InferencePool, paths: tuple[str, ...]) -> None:
        self.app, self.pool, self.paths = app, pool, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths and self.pool.in_flight >= self.pool.capacity:
            busy = PoolFull(self.pool.retry_after())
            await error_response(503, str(busy), {"Retry-After": str(busy.retry_after)})(scope, receive, send)
            return
        await self.app(scope, receive, send)
