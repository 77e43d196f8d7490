"""Where and how to reach a Domo instance, validated once so that every request can trust it."""

from __future__ import annotations

import contextlib
import json
import math
import re
import ssl
from collections.abc import Mapping
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
# Below a tenth of a second no request can be answered, even on loopback: every one would time out.
MIN_TIMEOUT_SECONDS = 0.1
AUTH_DEVELOPER_TOKEN = "developer_token"
AUTH_OAUTH = "oauth"
AUTH_TYPES = (AUTH_DEVELOPER_TOKEN, AUTH_OAUTH)
DEFAULT_TOKEN_URL = "https://api.domo.com/oauth/token"
# How the waits read one instance: by searching the workflow's /overall metrics (documented, the
# default), or with one of the one-instance routes (not documented for the instance host).
READ_OVERALL = "overall"
READ_INSTANCE = "instance"
READ_MODEL_INSTANCE = "model_instance"
INSTANCE_READS = (READ_OVERALL, READ_INSTANCE, READ_MODEL_INSTANCE)
# ASCII digits only: \d would also take other scripts' digits, which Domo would not know.
_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
HOST_EXAMPLES = (
    "'acme', 'acme.domo.com', 'https://acme.domo.com' or a full base URL such as 'http://127.0.0.1:8765'"
)


@dataclass(frozen=True)
class WorkflowMapping:
    """Where an alias points on the instance host: model id, deployed version and start message."""

    model_id: str
    version: str
    message_name: str


@dataclass(frozen=True)
class OAuthClient:
    """OAuth client credentials, exchanged at ``token_url`` for a bearer token; secret kept out of repr."""

    client_id: str
    client_secret: str = field(repr=False)
    token_url: str = DEFAULT_TOKEN_URL
    scope: str | None = None


@dataclass(frozen=True)
class DomoConnectionConfig:
    """
    A validated Domo connection: base URL, API root, credentials, timeout, TLS verification, retries,
    how one instance is read and which aliases map to model ids.

    Build it with :meth:`build`, which turns what a user typed into a clear ``ValueError`` naming the
    field and the fix. Secrets are left out of ``repr`` so that they never reach a log. It is frozen
    and hashable: the triggerer shares reads between waits with equal configs.
    """

    base_url: str
    # The developer access token; empty when ``oauth`` is set.
    token: str = field(repr=False)
    api_root: str = DEFAULT_API_ROOT
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    verify: bool | str = True
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_max_wait: float = DEFAULT_RETRY_MAX_WAIT
    oauth: OAuthClient | None = None
    instance_read: str = READ_OVERALL
    # Alias -> mapping, as sorted pairs so that the config stays hashable.
    workflows: tuple[tuple[str, WorkflowMapping], ...] = ()

    @property
    def secret(self) -> str:
        """The long-lived secret to mask in any text that leaves the client."""
        return self.oauth.client_secret if self.oauth is not None else self.token

    def mapping(self, workflow_alias: str) -> WorkflowMapping | None:
        """The connection's mapping of an alias to a model id, version and start message, if any."""
        return dict(self.workflows).get(workflow_alias.strip())

    def model_path(self, workflow_alias: str) -> str:
        """What names the workflow in ``/models/{workflow}/...``: a mapped alias's model id, else itself."""
        mapping = self.mapping(workflow_alias)
        return mapping.model_id if mapping is not None else workflow_alias

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
        auth_type: object = None,
        client_id: object = None,
        client_secret: object = None,
        token_url: object = None,
        scope: object = None,
        instance_read: object = None,
        workflows: object = None,
    ) -> DomoConnectionConfig:
        """Validate user input and build a config; raise ``ValueError`` naming the field at fault."""
        oauth = None
        if parse_auth_type(auth_type) == AUTH_OAUTH:
            oauth = OAuthClient(
                client_id=parse_client_id(client_id),
                client_secret=_header_safe("client_secret", client_secret, "the OAuth client's secret"),
                token_url=parse_token_url(token_url),
                scope=parse_scope(scope),
            )
            token = ""
        else:
            token = _header_safe(
                "password",
                token,
                "a Domo developer access token (Admin > Authentication > Access tokens)",
                name="password",
            )
        return cls(
            base_url=normalise_base_url(host, port),
            token=token,
            api_root=normalise_api_root(api_root),
            timeout=parse_timeout(timeout),
            verify=parse_verify(verify),
            max_retries=parse_max_retries(max_retries),
            retry_max_wait=parse_retry_max_wait(retry_max_wait),
            oauth=oauth,
            instance_read=parse_instance_read(instance_read),
            workflows=parse_workflows(workflows),
        )


def _header_safe(field_name: str, value: object, what: str, *, name: str | None = None) -> str:
    """A credential that can travel in an HTTP header; errors never repeat the value."""
    label = name or f"extra {field_name!r}"
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValueError(f"{label} is empty: set it to {what}.")
    if not text.isascii() or not text.isprintable() or " " in text:
        # Said without the value itself, which may be a secret that must never reach a log.
        raise ValueError(
            f"{label} holds characters that cannot travel in an HTTP header (white space, control or "
            f"non-ASCII characters): paste {what} again."
        )
    return text


def parse_client_id(value: object) -> str:
    """Read the OAuth client id; HTTP Basic joins it to the secret with a colon, so it cannot hold one."""
    client_id = _header_safe("client_id", value, "the OAuth client id from Domo's developer portal")
    if ":" in client_id:
        raise ValueError(
            "extra 'client_id' holds ':', which HTTP Basic cannot carry in a client id: paste the client id "
            "alone, and the secret into client_secret."
        )
    return client_id


def parse_auth_type(value: object) -> str:
    """Read the auth type: ``developer_token`` (default) or ``oauth`` (client credentials)."""
    if value is None or value == "":
        return AUTH_DEVELOPER_TOKEN
    text = str(value).strip().lower().replace("-", "_") if isinstance(value, str) else None
    if text in ("token", "access_token"):
        text = AUTH_DEVELOPER_TOKEN
    if text not in AUTH_TYPES:
        raise ValueError(f"extra 'auth_type' is {value!r}: use {AUTH_DEVELOPER_TOKEN!r} or {AUTH_OAUTH!r}.")
    return text


def parse_token_url(value: object) -> str:
    """Read the OAuth token URL: an http(s) URL, default Domo's ``https://api.domo.com/oauth/token``."""
    if value is None or value == "":
        return DEFAULT_TOKEN_URL
    text = value.strip() if isinstance(value, str) else ""
    parts = urlsplit(text)
    if parts.username or parts.password:
        # Said without the URL, which holds a secret that must never reach a log.
        raise ValueError(
            f"extra 'token_url' of host {parts.hostname!r} carries credentials: give the token URL alone, "
            f"e.g. {DEFAULT_TOKEN_URL!r}, and the client id and secret in client_id and client_secret."
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"extra 'token_url' is {value!r}: give the full URL of the OAuth token endpoint, "
            f"e.g. {DEFAULT_TOKEN_URL!r}, without credentials in it."
        )
    return text


def parse_scope(value: object) -> str | None:
    """Read the OAuth scope: space-separated words, or nothing to leave it to the client's setting."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.isascii() or not value.isprintable():
        raise ValueError(
            f"extra 'scope' is {value!r}: give space-separated OAuth scopes, e.g. 'data workflow'."
        )
    return " ".join(value.split()) or None


def parse_instance_read(value: object) -> str:
    """Read how waits read one instance: ``overall`` (default), ``instance`` or ``model_instance``."""
    if value is None or value == "":
        return READ_OVERALL
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in INSTANCE_READS:
        raise ValueError(
            f"extra 'instance_read' is {value!r}: use 'overall' (search /models/{{workflow}}/overall, the "
            "default), 'instance' (GET /instances/{id}) or 'model_instance' "
            "(GET /models/{workflow}/instance/{id})."
        )
    return text


_MAPPING_KEYS = {
    "model_id": ("model_id", "modelId"),
    "version": ("version",),
    "message_name": ("message_name", "messageName"),
}
_WORKFLOWS_EXAMPLE = (
    '{"AddTwoNumbers": {"model_id": "<workflow UUID>", "version": "1.1.0", '
    '"message_name": "Start AddTwoNumbers"}}'
)


def parse_workflows(value: object) -> tuple[tuple[str, WorkflowMapping], ...]:
    """
    Read the ``workflows`` extra: a JSON object (or its text) mapping an alias to its model id,
    version and start message, as a Domo app's manifest maps its workflows.
    """
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"extra 'workflows' is not valid JSON ({error.msg} at column {error.colno}): give an object "
                f"such as {_WORKFLOWS_EXAMPLE}."
            ) from None
    if not isinstance(value, Mapping):
        raise ValueError(f"extra 'workflows' must be a JSON object such as {_WORKFLOWS_EXAMPLE}.")
    pairs: list[tuple[str, WorkflowMapping]] = []
    for alias, entry in value.items():
        if not isinstance(alias, str) or not alias.strip():
            raise ValueError(f"extra 'workflows' has the key {alias!r}: name each workflow by its alias.")
        if not isinstance(entry, Mapping):
            raise ValueError(
                f"extra 'workflows'[{alias!r}] must be an object with model_id, version and message_name."
            )
        fields: dict[str, str] = {}
        for name, spellings in _MAPPING_KEYS.items():
            found = next((entry[key] for key in spellings if key in entry), None)
            if not isinstance(found, str) or not found.strip():
                raise ValueError(
                    f"extra 'workflows'[{alias!r}] lacks {name!r}: give model_id (the workflow's UUID), "
                    "version (the deployed major.minor.patch) and message_name (the start node's title)."
                )
            fields[name] = found.strip()
        if not _VERSION.fullmatch(fields["version"]):
            raise ValueError(
                f"extra 'workflows'[{alias!r}] has version {fields['version']!r}: give the deployed version "
                "as major.minor.patch, e.g. '1.1.0'."
            )
        if any(known == alias.strip() for known, _ in pairs):
            raise ValueError(
                f"extra 'workflows' names the alias {alias.strip()!r} twice (white space around an alias "
                "does not count): keep one entry for it."
            )
        pairs.append((alias.strip(), WorkflowMapping(**fields)))
    return tuple(sorted(pairs, key=lambda pair: pair[0]))


def check_version(value: object) -> str:
    """A workflow version as ``major.minor.patch``; a ``ValueError`` names ``version`` otherwise."""
    text = value.strip() if isinstance(value, str) else ""
    if not _VERSION.fullmatch(text):
        raise ValueError(
            f"version is {value!r}: give the workflow's deployed version as major.minor.patch, e.g. '1.1.0'."
        )
    return text


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
    return _seconds("timeout", value, DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS)


def _seconds(extra: str, value: object, default: float, maximum: float, minimum: float = 0.0) -> float:
    """
    Read an extra holding seconds: empty means ``default``; otherwise above 0, at least ``minimum``
    and up to ``maximum``.
    """
    if value is None or value == "":
        return default
    seconds = math.nan
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        with contextlib.suppress(ValueError, OverflowError):
            seconds = float(value)
    if not math.isfinite(seconds) or not 0 < seconds <= maximum or seconds < minimum:
        span = f"number of seconds from {minimum:g} to" if minimum else "positive number of seconds up to"
        raise ValueError(f"extra '{extra}' is {value!r}: it must be a {span} {maximum:g}, e.g. {default:g}.")
    return seconds


def parse_max_retries(value: object) -> int:
    """Read how many times a read or a cancel is tried again: a whole number from 0 to 10 (default 3)."""
    if value is None or value == "":
        return DEFAULT_MAX_RETRIES
    if isinstance(value, float) and value.is_integer():
        # A number field in a form may save 3 as 3.0.
        value = int(value)
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isascii() or not text.isdigit() or int(text) > MAX_RETRIES_LIMIT:
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
