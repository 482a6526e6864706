"""The admission HTTP API as the CLI sees it: where it is, the API key, and failures as exit codes.

Synchronous httpx on purpose: a CLI command does one thing at a time and has no event loop to
share, and a blocking client keeps every command a plain function that typer can call.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import httpx
import typer

from laneyard.services.cli.exit_codes import ExitCode, for_status

DEFAULT_TIMEOUT = 10.0

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

    def __init__(self, message: str, code: ExitCode, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def base_url(url: str | None) -> str:
    if url:
        return url.rstrip("/")
    port = os.environ.get("LANEYARD_HTTP_PORT") or "8080"
    return f"http://127.0.0.1:{port}"


def detail_of(response: httpx.Response) -> str:
    """The API's ``detail`` as one line: a message, or the fields a validation error names."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(detail, list):
        parts = []
        for err in detail[:5]:
            if isinstance(err, dict):
                loc = ".".join(str(p) for p in err.get("loc", []) if p != "body")
                parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
        return "; ".join(parts) or str(detail)[:300]
    return str(detail) if detail is not None else response.reason_phrase


class ApiClient:
    def __init__(
        self,
        url: str | None,
        api_key: str | None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url(url)
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ApiError(
                f"the API at {self.base_url} did not answer in time ({type(exc).__name__})",
                ExitCode.UNREACHABLE,
            ) from exc
        except httpx.TransportError as exc:
            raise ApiError(
                f"the API at {self.base_url} is unreachable: {exc or type(exc).__name__}",
                ExitCode.UNREACHABLE,
            ) from exc
        if response.is_error:
            raise ApiError(
                f"{method} {path} failed ({response.status_code}): {detail_of(response)}",
                for_status(response.status_code),
                response.status_code,
            )
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON of a successful request (None for an empty body, e.g. a 204)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(
                f"{method} {path} answered something that is not JSON: {response.text[:120]!r}",
                ExitCode.SERVER_ERROR,
            ) from exc

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, json=body)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)


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
