"""The ``openai`` provider: OpenAI and every server that speaks its Chat Completions API.

(Over 400 lines on purpose: the request shaping, the one error map and the three vendors'
settings are one vendor SDK's concern and are read together.)

One class for three vendors of model strings: ``openai:`` (api.openai.com, ``OPENAI_API_KEY``,
``OPENAI_BASE_URL``), ``ollama:`` (``http://localhost:11434/v1`` unless ``OLLAMA_BASE_URL`` or
``OLLAMA_HOST`` say otherwise; no key) and ``openai-compatible:`` (vLLM, LM Studio, llama.cpp,
OpenRouter, Azure...: ``base_url`` from the options or ``OPENAI_COMPATIBLE_BASE_URL``, key
from ``OPENAI_COMPATIBLE_API_KEY`` if the server wants one). The official ``openai`` SDK is
imported here only, when a provider is constructed.

Structured output: a schema that strict mode can express goes as ``response_format``
``json_schema`` with ``strict: true``; anything looser as JSON mode (``json_object``) with the
schema in the system prompt. Servers other than OpenAI's own get the schema in the system
prompt in every mode, because some accept ``response_format`` and ignore it. Whatever comes
back goes through ``agents.structured``'s tolerant parse and repair loop like every vendor's.

Failures are classified once, in ``map_error``: 429, 5xx, connection errors and timeouts are
transient, retried by the SDK (``max_retries``, backoff, ``retry-after``) and counted; 400,
401, 403, 404 are permanent and say what to fix. Retries are counted by an HTTP client event
hook (it runs once per attempt) and reported as ``ModelResponse.meta["retries"]``. Before the
first call to a host, ``network.HostCheck`` looks it up once, so no network fails in about two
seconds with one line instead of a minute of retries.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..exceptions import ProviderError
from .base import ModelRequest, ModelResponse
from .failures import retries_note, timed_out, unreachable
from .guard import check_model_request
from .models import model_for
from .network import HostCheck
from .strict import strict_compatible, without_defaults

if TYPE_CHECKING:
    import httpx2

DEFAULT_TIMEOUT = 300.0
DEFAULT_MAX_RETRIES = 4

StructuredMode = Literal["auto", "json_schema", "json_object", "none"]


@dataclass(frozen=True)
class VendorInfo:
    label: str
    """How messages name the server."""
    base_env: str
    key_env: str
    default_base_url: str | None
    key_required: bool
    default_model: str | None


VENDOR_INFO: dict[str, VendorInfo] = {
    "openai": VendorInfo(
        "the OpenAI API",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "https://api.openai.com/v1",
        True,
        "gpt-4.1-mini",
    ),
    "ollama": VendorInfo(
        "Ollama", "OLLAMA_BASE_URL", "OLLAMA_API_KEY", "http://localhost:11434/v1", False, None
    ),
    "openai-compatible": VendorInfo(
        "the OpenAI-compatible server",
        "OPENAI_COMPATIBLE_BASE_URL",
        "OPENAI_COMPATIBLE_API_KEY",
        None,
        False,
        None,
    ),
}

_ATTEMPTS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "nbworkflow_openai_attempts", default=None
)


async def _count_attempt(request: httpx2.Request) -> None:
    """HTTP client event hook: runs once per attempt, inside the SDK's retry loop."""
    cell = _ATTEMPTS.get()
    if cell is not None:
        cell.append(int(request.headers.get("x-stainless-retry-count", len(cell))))


def _ollama_base_url() -> str | None:
    host = os.environ.get("OLLAMA_HOST", "").strip()
    if not host:
        return None
    if "://" not in host:
        host = "http://" + host
    return host.rstrip("/") + "/v1"


def vendor_base_url(vendor: str, base_url: str | None = None) -> str:
    """The base URL a vendor's calls go to: the option, the environment, the default."""
    info = VENDOR_INFO[vendor]
    url = base_url or os.environ.get(info.base_env) or None
    if url is None and vendor == "ollama":
        url = _ollama_base_url()
    url = url or info.default_base_url
    if not url:
        raise ProviderError(
            f"models '{vendor}:NAME' need the server's base URL: export "
            f"{info.base_env}=http://HOST:PORT/v1, or pass provider_options="
            f"{{'{vendor}': {{'base_url': ...}}}}"
        )
    return url


def vendor_api_key(vendor: str, api_key: str | None = None) -> str | None:
    """The key for a vendor (``None`` when it needs one and none is set)."""
    info = VENDOR_INFO[vendor]
    key = api_key if api_key is not None else os.environ.get(info.key_env)
    if key:
        return key
    # The SDK insists on a key; local servers ignore it.
    return None if info.key_required else "not-needed"


_STATUS_FIXES: dict[int, tuple[str, bool]] = {
    401: (
        "{key_env} is not set or invalid (401): set it to a valid key for {label}, or run "
        "offline with --provider replay or scripted",
        False,
    ),
    403: (
        "the API key may not use model '{model}' (403): check the key's project and limits",
        False,
    ),
    404: (
        "model '{model}' was not found at {label} (404): check `model:` in the workflow or the "
        "node{pull}",
        False,
    ),
    413: ("the request is too large (413): shorten the node's inputs or upstream context", False),
    400: (
        "the server rejected the request (400): fix the node's model, max_tokens, temperature "
        "or output schema{format_hint}",
        False,
    ),
    422: ("the server could not process the request (422): check the node's settings", False),
    429: (
        "rate limited by {label} (429){note}: wait, lower max_concurrency, or raise max_retries",
        True,
    ),
}


def map_error(
    exc: BaseException,
    *,
    vendor: str,
    model: str,
    retries: int = 0,
    timeout: float | None = None,
) -> ProviderError:
    """The one place the openai SDK's errors become the project's (callers raise ``from exc``)."""
    import openai as sdk

    info = VENDOR_INFO.get(vendor, VENDOR_INFO["openai-compatible"])
    note = retries_note(retries)
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError(timed_out(timeout, retries, where=f" to {info.label}"), retryable=True)
    if isinstance(exc, sdk.APIConnectionError):
        fix = f"check the network, a proxy, or {info.base_env}"
        if vendor == "ollama":
            fix = f"is Ollama running? start it with `ollama serve`, or set {info.base_env}"
        return ProviderError(
            unreachable(info.label, exc.request.url, exc.__cause__, retries, fix), retryable=True
        )
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        body = exc.body
        detail = body.get("message") if isinstance(body, dict) else body
        detail = str(detail or exc.message or "")[:300]
        said = f" (the server said: {detail})" if detail else ""
        if status in _STATUS_FIXES:
            template, retryable = _STATUS_FIXES[status]
            format_hint = ""
            if "response_format" in detail or "json_schema" in detail:
                format_hint = (
                    "; this server may not support structured output: use the provider option "
                    "structured='json_object' or 'none'"
                )
            msg = template.format(
                model=model,
                note=note,
                label=info.label,
                key_env=info.key_env,
                pull=f", or fetch it: `ollama pull {model}`" if vendor == "ollama" else "",
                format_hint=format_hint,
            )
            return ProviderError(msg + said, status_code=status, retryable=retryable)
        if status >= 500:
            retryable = exc.response.headers.get("x-should-retry") != "false"
            msg = f"{info.label} failed ({status}){note}: try again later"
            return ProviderError(msg + said, status_code=status, retryable=retryable)
        retryable = status in (408, 409)
        return ProviderError(
            f"{info.label} answered {status}{note}{said}", status_code=status, retryable=retryable
        )
    if isinstance(exc, sdk.OpenAIError):
        return ProviderError(f"the OpenAI SDK failed: {type(exc).__name__}: {exc}")
    return ProviderError(f"the model call failed: {type(exc).__name__}: {exc}")


_SCHEMA_NAME = re.compile(r"[^A-Za-z0-9_-]")
_STOP_REASONS = {"length": "max_tokens", "stop": "end_turn", "tool_calls": "tool_use"}


class OpenAIProvider:
    """Answers ``ModelRequest``s through ``openai.AsyncOpenAI`` (Chat Completions).

    ``vendor`` is ``openai``, ``ollama`` or ``openai-compatible`` (defaults, key and base URL
    variables, messages). ``model`` is used for requests that name none. ``structured``:
    ``auto`` (strict ``json_schema`` when the schema fits, else ``json_object``),
    ``json_schema``, ``json_object`` or ``none`` (schema only in the system prompt: for
    servers that reject ``response_format``).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        vendor: str = "openai",
        api_key: str | None = None,
        base_url: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float = DEFAULT_TIMEOUT,
        structured: StructuredMode = "auto",
    ) -> None:
        if vendor not in VENDOR_INFO:
            raise ProviderError(
                f"unknown OpenAI-compatible vendor '{vendor}': use one of {', '.join(VENDOR_INFO)}"
            )
        info = VENDOR_INFO[vendor]
        self.name = vendor
        self.vendor = vendor
        self.model = model or info.default_model or ""
        self.timeout = timeout
        self.max_retries = max_retries
        self.structured: StructuredMode = structured
        self.calls = 0
        self.retries = 0
        """HTTP retries over all calls (transient failures the SDK retried)."""
        self.format_refused = False
        """The server answered 400 to ``response_format``: ``auto`` sends the schema in the
        prompt only from then on."""
        self._options: dict[str, Any] = {
            "model": model,
            "api_key": api_key,
            "base_url": base_url,
            "max_retries": max_retries,
            "timeout": timeout,
            "structured": structured,
        }
        """What rebuilds this provider elsewhere (pickling: name and options)."""
        url = vendor_base_url(vendor, base_url)
        key = vendor_api_key(vendor, api_key)
        if key is None:
            raise ProviderError(
                f"{info.key_env} is not set: export {info.key_env}=... for models "
                f"'{vendor}:NAME', or run offline with --provider replay --cassette FILE or "
                "--provider scripted --script FILE"
            )
        try:
            import httpx2
            import openai as sdk
        except ImportError as exc:
            raise ProviderError(
                f"models '{vendor}:NAME' need the openai SDK, which is not installed: "
                "pip install 'nbworkflow[openai]'"
            ) from exc

        self._hosts = HostCheck(hint=f"or {info.base_env}")
        self._client = sdk.AsyncOpenAI(
            api_key=key,
            base_url=url,
            max_retries=max_retries,
            timeout=httpx2.Timeout(timeout, connect=min(10.0, timeout)),
            http_client=sdk.DefaultAsyncHttpxClient(
                timeout=httpx2.Timeout(timeout, connect=min(10.0, timeout)),
                event_hooks={"request": [_count_attempt]},
            ),
        )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def _params(self, request: ModelRequest) -> tuple[dict[str, Any], str]:
        model = model_for(request.model, self.vendor) or self.model
        if not model:
            raise ProviderError(f"node '{request.node_id}': no model named for {self.vendor}")
        params: dict[str, Any] = {"model": model}
        # OpenAI's reasoning models reject max_tokens; other servers only know max_tokens.
        limit = "max_completion_tokens" if self.vendor == "openai" else "max_tokens"
        params[limit] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        system = request.system
        schema = request.output_schema
        mode = "text"
        if schema is not None:
            mode = self.structured
            if mode == "auto" and self.format_refused:
                mode = "none"
            elif mode == "auto":
                fits = strict_compatible(schema, all_required=True)
                mode = "json_schema" if fits else "json_object"
            if mode == "json_schema":
                name = _SCHEMA_NAME.sub("_", request.output_name)[:64] or "answer"
                params["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": name,
                        "schema": without_defaults(schema),
                        "strict": strict_compatible(schema, all_required=True),
                    },
                }
            elif mode == "json_object":
                params["response_format"] = {"type": "json_object"}
            if mode != "json_schema" or self.vendor != "openai":
                system += (
                    "\n\nAnswer with one JSON object (no prose, no Markdown fences) that "
                    "matches this JSON Schema:\n" + json.dumps(schema)
                )
        messages: list[dict[str, str]] = []
        if system:
            messages.append({"role": "system", "content": system})
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        params["messages"] = messages
        return params, mode

    async def complete(self, request: ModelRequest) -> ModelResponse:
        import openai as sdk

        check_model_request(self.base_url)
        await self._hosts.check(self.base_url)
        params, mode = self._params(request)
        attempts: list[int] = []
        token = _ATTEMPTS.set(attempts)
        self.calls += 1
        try:
            try:
                completion = await self._client.chat.completions.create(**params)
            except sdk.BadRequestError as exc:
                if not self._refuses_format(exc, params):
                    raise
                # A server without structured output: from now on the schema goes in the
                # prompt only, and the parse-and-repair loop does the rest.
                self.format_refused = True
                attempts.clear()  # a new question, not a retry of the old one
                params, mode = self._params(request)
                completion = await self._client.chat.completions.create(**params)
        except sdk.OpenAIError as exc:
            retries = max(0, len(attempts) - 1)
            self.retries += retries
            raise map_error(
                exc,
                vendor=self.vendor,
                model=params["model"],
                retries=retries,
                timeout=self.timeout,
            ) from exc
        finally:
            _ATTEMPTS.reset(token)
        retries = max(0, len(attempts) - 1)
        self.retries += retries
        if not completion.choices:
            raise ProviderError(
                f"{VENDOR_INFO[self.vendor].label} answered without a choice: try again",
                retryable=True,
            )
        choice = completion.choices[0]
        refusal = getattr(choice.message, "refusal", None)
        if refusal:
            raise ProviderError(f"the model refused to answer: {str(refusal)[:300]}")
        usage = completion.usage
        meta: dict[str, Any] = {
            "retries": retries,
            "structured": mode,
            "id": completion.id,
            "vendor": self.vendor,
        }
        reason = choice.finish_reason
        return ModelResponse(
            text=choice.message.content or "",
            input_tokens=(usage.prompt_tokens or 0) if usage else 0,
            output_tokens=(usage.completion_tokens or 0) if usage else 0,
            model=completion.model or params["model"],
            stop_reason=_STOP_REASONS.get(str(reason), reason),
            meta=meta,
        )

    def _refuses_format(self, exc: BaseException, params: dict[str, Any]) -> bool:
        """A 400 about ``response_format`` from a server other than OpenAI's, in ``auto``."""
        if self.structured != "auto" or self.vendor == "openai" or "response_format" not in params:
            return False
        body = getattr(exc, "body", None)
        said = str(body.get("message") if isinstance(body, dict) else body) + str(exc)
        return "response_format" in said or "json_schema" in said

    def __reduce__(self) -> tuple[Any, ...]:
        # Name and options: an SDK client holds sockets and belongs to one process.
        return (_rebuild, (self.vendor, self._options))

    async def aclose(self) -> None:
        await self._client.close()


__all__ = [
    "VENDOR_INFO",
    "OpenAIProvider",
    "map_error",
    "vendor_api_key",
    "vendor_base_url",
]


def _rebuild(vendor: str, options: dict[str, Any]) -> OpenAIProvider:
    """Unpickle: build the provider again from its vendor and options."""
    return OpenAIProvider(vendor=vendor, **options)
