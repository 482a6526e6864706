"""The admission API as the CLI sees it: the public ``Client``, with every failed request turned
into the one line the CLI prints and the exit code it leaves with.

Blocking on purpose: a CLI command does one thing at a time and has no event loop to share, and a
blocking client keeps every command a plain function that typer can call.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import httpx
import typer
from pydantic import ValidationError

from laneyard.client import Client, RetryPolicy
from laneyard.client.calls import Call
from laneyard.errors import JobNotFound, LaneyardError, Refused, Unauthorized, Unavailable
from laneyard.services.cli.exit_codes import ExitCode, for_error

T = TypeVar("T")

# Fewer tries than the client's default (6, several seconds of backoff): an operator at a terminal
# should hear within a second that the API is down, and can run the command again.
RETRY = RetryPolicy(attempts=3)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="LANEYARD_URL",
        help="admission base URL [default: http://127.0.0.1:$LANEYARD_HTTP_PORT, port 8080 if unset]",
        show_default=False,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="LANEYARD_API_KEY", help="sent as 'Authorization: Bearer <key>'"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


class ApiError(Exception):
    """A request that did not succeed, with the one line to show and the exit code to leave with."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ApiClient(Client):
    """The public client, raising ``ApiError`` instead of the ``LaneyardError`` it would raise.

    ``send`` is where every call of ``Client`` goes through, so it is the one place that still knows
    which request failed, for the line the CLI prints."""

    def __init__(
        self, url: str | None, api_key: str | None, transport: httpx.BaseTransport | None = None
    ) -> None:
        super().__init__(url, api_key, retry=RETRY, transport=transport)

    def send(self, call: Call[T]) -> T:
        try:
            return super().send(call)
        except LaneyardError as exc:
            raise ApiError(describe(call, exc, self.url), for_error(exc)) from exc
        except ValidationError as exc:
            # A 2xx whose body is not the model of the answer: a proxy's page, or another server.
            raise ApiError(
                f"{call.method} {call.path} answered something that is not the expected JSON: {first(exc)}",
                ExitCode.SERVER_ERROR,
            ) from exc


def describe(call: Call[Any], exc: LaneyardError, url: str) -> str:
    """Which request failed, with what status, in the server's words; or that none got an answer."""
    if isinstance(exc, Refused | Unauthorized):
        status, detail = exc.status, exc.message
    elif isinstance(exc, JobNotFound):
        status, detail = 404, str(exc)
    elif isinstance(exc, Unavailable) and exc.status is not None:
        status, detail = exc.status, exc.detail or ""
    else:
        return f"the API at {url} is unreachable: {exc}"
    return f"{call.method} {call.path} failed ({status}): {detail}"


def first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def fail(message: str, code: ExitCode) -> NoReturn:
    """One line on stderr, then the exit code: what every command does when it cannot go on."""
    print(f"laneyard: {message}", file=sys.stderr, flush=True)
    raise typer.Exit(int(code))


@contextmanager
def api(url: str | None, api_key: str | None) -> Iterator[ApiClient]:
    """A client for one command; an ``ApiError`` inside ends the command with its line and code."""
    client = ApiClient(url, api_key)
    try:
        yield client
    except ApiError as exc:
        fail(exc.message, exc.code)
    finally:
        client.close()
