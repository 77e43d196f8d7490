"""Where and how to reach a Domo instance, validated once so that every request can trust it."""

from __future__ import annotations

import contextlib
import math
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from airflow_provider_domo_workflows.client.retry import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_MAX_WAIT

DEFAULT_API_ROOT = "/api/workflow/v1"
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_RETRIES_LIMIT = 10
MAX_RETRY_WAIT_LIMIT = 300.0
# One request waiting longer than an hour is a hang, not patience; larger values also overflow clocks.
MAX_TIMEOUT_SECONDS = 3600.0
HOST_EXAMPLES = (
    "'acme', 'acme.domo.com', 'https://acme.domo.com' or a full base URL such as 'http://127.0.0.1:8765'"
)


@dataclass(frozen=True)
class DomoConnectionConfig:
    """
    A validated Domo connection: base URL, API root, access token, timeout and TLS verification.

    Build it with :meth:`build`, which turns what a user typed into a clear ``ValueError`` naming the
    field and the fix. The token is left out of ``repr`` so that it never reaches a log.
    """

    base_url: str
    token: str = field(repr=False)
    api_root: str = DEFAULT_API_ROOT
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    verify: bool | str = True
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_max_wait: float = DEFAULT_RETRY_MAX_WAIT

    @classmethod
    def build(
        cls,
        *,
        host: str | None,
        token: str | None,
        port: int | None = None,
        api_root: object = None,
        timeout: object = None,
        verify: object = None,
        max_retries: object = None,
        retry_max_wait: object = None,
    ) -> DomoConnectionConfig:
        """Validate user input and build a config; raise ``ValueError`` naming the field at fault."""
        if not token or not token.strip():
            raise ValueError(
                "password is empty: set the connection's password to a Domo developer access token "
                "(Admin > Authentication > Access tokens)."
            )
        if not token.strip().isascii() or not token.strip().isprintable() or " " in token.strip():
            # Said without the token itself, which must never reach a log.
            raise ValueError(
                "password holds characters that cannot travel in an HTTP header (white space, control or "
                "non-ASCII characters): paste the access token again."
            )
        return cls(
            base_url=normalise_base_url(host, port),
            token=token.strip(),
            api_root=normalise_api_root(api_root),
            timeout=parse_timeout(timeout),
            verify=parse_verify(verify),
            max_retries=parse_max_retries(max_retries),
            retry_max_wait=parse_retry_max_wait(retry_max_wait),
        )


def normalise_base_url(host: str | None, port: int | None = None) -> str:
    """Turn ``acme``, ``acme.domo.com`` or a URL into a base URL such as ``https://acme.domo.com``."""
    text = (host or "").strip()
    if not text:
        raise ValueError(f"host is empty: set it to your Domo instance, e.g. {HOST_EXAMPLES}.")
    if any(character.isspace() for character in text):
        raise ValueError(f"host {text!r} contains white space: set it to e.g. {HOST_EXAMPLES}.")
    if "://" not in text:
        # A bare name is the instance's sub-domain, as Domo users write it.
        name = text.rstrip("/")
        if "." not in name and ":" not in name and name != "localhost":
            name = f"{name}.domo.com"
        text = f"https://{name}"

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"host {text!r} has scheme {parts.scheme!r}: use https:// (or http:// for a local emulator)."
        )
    if parts.username or parts.password:
        raise ValueError(
            f"host {parts.hostname!r} carries credentials: put the access token in password instead."
        )
    if parts.query or parts.fragment:
        raise ValueError(
            f"host {text!r} has a query or fragment: give only the base URL, e.g. {HOST_EXAMPLES}."
        )
    try:
        url_port = parts.port
    except ValueError as error:
        raise ValueError(f"host {text!r} has an invalid port: {error}.") from None
    if not parts.hostname:
        raise ValueError(f"host {text!r} names no server: set it to e.g. {HOST_EXAMPLES}.")

    netloc = parts.netloc
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise ValueError(f"port is {port!r}: it must be a number between 1 and 65535, or empty.")
    if url_port == 0:
        raise ValueError(f"host {text!r} has port 0: give the real port, or none for the scheme's default.")
    if port and url_port is None:
        netloc = f"{netloc}:{port}"
    base_url = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
    try:
        # httpx checks what urlsplit lets through: internationalised names, odd characters.
        httpx.URL(base_url)
    except (httpx.InvalidURL, UnicodeError) as error:
        raise ValueError(
            f"host {text!r} is not a valid URL ({error}): set it to e.g. {HOST_EXAMPLES}."
        ) from None
    return base_url


def normalise_api_root(value: object) -> str:
    """Check the API root path (default ``/api/workflow/v1``) and drop a trailing slash."""
    if value is None or value == "":
        return DEFAULT_API_ROOT
    if (
        not isinstance(value, str)
        or not value.startswith("/")
        or value.startswith("//")
        or value.strip("/") == ""
        or any(c in value for c in "?# \t\n")
    ):
        raise ValueError(
            f"extra 'api_root' is {value!r}: it must be a path starting with '/', such as "
            f"'{DEFAULT_API_ROOT}' (Domo's instance host) or '/domo/workflow/v1' (inside a Domo app)."
        )
    return value.rstrip("/") or DEFAULT_API_ROOT


def parse_timeout(value: object) -> float:
    """Read the request timeout in seconds: a finite positive number (default 30)."""
    return _seconds("timeout", value, DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS)


def _seconds(extra: str, value: object, default: float, maximum: float) -> float:
    """Read an extra holding seconds: empty means ``default``; otherwise above 0 and up to ``maximum``."""
    if value is None or value == "":
        return default
    seconds = math.nan
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        with contextlib.suppress(ValueError, OverflowError):
            seconds = float(value)
    if not math.isfinite(seconds) or not 0 < seconds <= maximum:
        raise ValueError(
            f"extra '{extra}' is {value!r}: it must be a positive number of seconds up to {maximum:g}, "
            f"e.g. {default:g}."
        )
    return seconds


def parse_max_retries(value: object) -> int:
    """Read how many times a read or a cancel is tried again: a whole number from 0 to 10 (default 3)."""
    if value is None or value == "":
        return DEFAULT_MAX_RETRIES
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit() or int(text) > MAX_RETRIES_LIMIT:
        raise ValueError(
            f"extra 'max_retries' is {value!r}: give a whole number from 0 to {MAX_RETRIES_LIMIT}."
        )
    return int(text)


def parse_retry_max_wait(value: object) -> float:
    """Read the longest sleep between two tries, in seconds: more than 0, at most 300 (default 30)."""
    return _seconds("retry_max_wait", value, DEFAULT_RETRY_MAX_WAIT, MAX_RETRY_WAIT_LIMIT)


def parse_verify(value: object) -> bool | str:
    """Read TLS verification: true (default), false, or the path of a CA bundle."""
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        # A JSON extra written by hand may say 1 or 0.
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("", "true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        path = value.strip()
        try:
            ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(
                f"extra 'verify' is {value!r}, which is neither true, false nor a readable CA bundle file "
                f"({error})."
            ) from None
        return path
    raise ValueError(f"extra 'verify' is {value!r}: use true, false or the path of a CA bundle file.")
