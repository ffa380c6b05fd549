"""The ``anthropic`` provider: nodes answered by Claude through the official SDK.

The SDK is imported here only, and only when a provider is constructed (it costs ~1.4 s).

Structured output: the node's answer schema is sent with the request, so the model is
constrained before anything is parsed. A schema the API's strict mode can express (every object
lists its ``properties``, every value has a type) goes as ``output_config.format`` (type
``json_schema``, made strict by the SDK's own ``transform_schema``); anything looser (a json
node without a schema: ``data`` may be any value; a free-form object) goes as a forced tool
(``input_schema`` + ``tool_choice``), which takes any JSON Schema. Either way the provider
returns the raw JSON text and ``agents.structured`` validates it, the same way for every
provider.

Failures are classified once, in ``map_error``: 429, 529, other 5xx, connection errors and
timeouts are transient (``retryable``), retried by the SDK itself (``max_retries``, exponential
backoff with jitter, honouring ``retry-after``/``retry-after-ms`` and ``x-should-retry``); 400,
401, 403, 404, 413 are permanent and say what to fix. Retries are counted by a client
middleware (it runs once per HTTP attempt) and reported as ``ModelResponse.meta["retries"]``.

The key comes from ``api_key=`` or ``ANTHROPIC_API_KEY``; it is handed to the SDK and never
logged, put in an error message or written anywhere.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
from typing import TYPE_CHECKING, Any, Literal

from ..exceptions import ProviderError
from .base import ModelRequest, ModelResponse
from .testing import check_model_request

if TYPE_CHECKING:
    import anthropic

DEFAULT_MODEL = "claude-sonnet-4-5"
DEFAULT_TIMEOUT = 300.0
"""Seconds for one HTTP attempt (connect 10 s at most)."""
DEFAULT_MAX_RETRIES = 4

StructuredMode = Literal["auto", "output_config", "tool", "none"]

# One list per ``complete`` call, filled by the middleware on every HTTP attempt. A context
# variable, because one client serves many concurrent node tasks.
_ATTEMPTS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "nbworkflow_anthropic_attempts", default=None
)


async def _count_attempts(request: Any, call_next: Any) -> Any:
    """SDK middleware: runs once per HTTP attempt, inside the SDK's retry loop."""
    cell = _ATTEMPTS.get()
    if cell is not None:
        cell.append(int(getattr(request, "retries_taken", len(cell))))
    return await call_next(request)


_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")


def strict_compatible(schema: Any) -> bool:
    """Whether the API's strict ``json_schema`` output can express ``schema`` without loss.

    Strict mode closes every object (``additionalProperties: false``) and needs a type (or
    ``anyOf``/``enum``/``const``/``$ref``) on every value, so a free-form object or an untyped
    value would be forced empty or rejected: those go as a tool instead.
    """
    if not isinstance(schema, dict):
        return False
    if "$ref" in schema:
        return all(strict_compatible(s) for s in schema.get("$defs", {}).values())
    for key in ("$defs", "definitions"):
        if not all(strict_compatible(s) for s in schema.get(key, {}).values()):
            return False
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return all(strict_compatible(s) for s in schema[key])
    if "enum" in schema or "const" in schema:
        return True
    kind = schema.get("type")
    if isinstance(kind, list) or kind is None:
        return False
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            return False
        if schema.get("additionalProperties", False) is not False:
            return False
        if "patternProperties" in schema:
            return False
        return all(strict_compatible(s) for s in props.values())
    if kind == "array":
        items = schema.get("items")
        return items is None or strict_compatible(items)
    return kind in ("string", "integer", "number", "boolean", "null")


_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def _without_defaults(schema: Any) -> Any:
    """``schema`` minus ``default`` keywords (strict mode would paste them into descriptions)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "default":
            continue
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: _without_defaults(v) for k, v in value.items()}
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [_without_defaults(v) for v in value]
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _without_defaults(value)
        else:
            out[key] = value
    return out


def _retries_note(retries: int) -> str:
    return f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""


_STATUS_FIXES: dict[int, tuple[str, bool]] = {
    401: (
        "ANTHROPIC_API_KEY is not set or invalid (401): set it to a valid key from "
        "console.anthropic.com, or run offline with --provider replay or scripted",
        False,
    ),
    403: (
        "the API key may not use model '{model}' (403): check the key's workspace and permissions",
        False,
    ),
    404: ("model '{model}' was not found (404): check `model:` in the workflow or the node", False),
    413: ("the request is too large (413): shorten the node's inputs or upstream context", False),
    400: (
        "the API rejected the request (400): fix the node's model, max_tokens, temperature "
        "(newer models reject it: remove it) or output schema",
        False,
    ),
    429: (
        "rate limited by the API (429){note}: wait, lower max_concurrency, or raise max_retries",
        True,
    ),
}
"""Per HTTP status: what went wrong and the fix (``{model}``, ``{note}`` filled in), and
whether the node may retry."""


def map_error(
    exc: BaseException, *, model: str, retries: int = 0, timeout: float | None = None
) -> ProviderError:
    """The one place SDK errors become the project's errors (callers raise ``from exc``)."""
    import anthropic as sdk

    note = _retries_note(retries)
    if isinstance(exc, sdk.APITimeoutError):
        limit = f" after {timeout:g} s" if timeout else ""
        return ProviderError(
            f"the model call timed out{limit}{note}: raise the provider's timeout or lower the "
            "node's max_tokens",
            retryable=True,
        )
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__
        why = f" ({type(cause).__name__}: {cause})" if cause else ""
        return ProviderError(
            f"could not reach the Anthropic API at {exc.request.url}{why}"
            f"{note}: check the network, a proxy, or ANTHROPIC_BASE_URL",
            retryable=True,
        )
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        detail = exc.api_message or (exc.body if isinstance(exc.body, str) else "") or ""
        detail = str(detail)[:300]
        said = f" (the API said: {detail})" if detail else ""
        if status in _STATUS_FIXES:
            template, retryable = _STATUS_FIXES[status]
            msg = template.format(model=model, note=note)
            return ProviderError(msg + said, status_code=status, retryable=retryable)
        if status == 529 or status >= 500:
            # The server may say a retry is pointless; then the node must not retry either.
            retryable = exc.response.headers.get("x-should-retry") != "false"
            kind = "overloaded" if status == 529 else "failed"
            msg = f"the Anthropic API {kind} ({status}){note}: try again later"
            return ProviderError(msg + said, status_code=status, retryable=retryable)
        retryable = status in (408, 409)
        return ProviderError(
            f"the API answered {status}{note}{said}", status_code=status, retryable=retryable
        )
    if isinstance(exc, sdk.AnthropicError):
        return ProviderError(f"the Anthropic SDK failed: {exc}")
    return ProviderError(f"the model call failed: {type(exc).__name__}: {exc}")


class AnthropicProvider:
    """Answers ``ModelRequest``s with Claude through ``anthropic.AsyncAnthropic``.

    ``model`` is used for requests that name none (the workflow and its nodes choose the model).
    ``structured`` picks how the answer schema is requested: ``auto`` (``output_config`` when the
    schema is strict-compatible, else a forced tool), ``output_config``, ``tool``, or ``none``
    (schema only in the system prompt). ``client`` is an ``AsyncAnthropic`` of the caller's (its
    settings are used as they are; ``aclose`` leaves it open).
    """

    name = "anthropic"

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float = DEFAULT_TIMEOUT,
        client: anthropic.AsyncAnthropic | None = None,
        structured: StructuredMode = "auto",
    ) -> None:
        self.model = model or DEFAULT_MODEL
        self.timeout = timeout
        self.max_retries = max_retries
        self.structured: StructuredMode = structured
        self.calls = 0
        self.retries = 0
        """HTTP retries over all calls (transient failures the SDK retried)."""
        self._owns_client = client is None
        if client is not None:
            # A copy that shares the caller's connection pool, plus the retry counter.
            self._client = client.with_middleware(_count_attempts)
            return
        key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ProviderError(
                "ANTHROPIC_API_KEY is not set: export ANTHROPIC_API_KEY=... (a key from "
                "console.anthropic.com) for live calls, or run offline with --provider replay "
                "--cassette FILE or --provider scripted --script FILE"
            )
        import anthropic as sdk
        import httpx2

        self._client = sdk.AsyncAnthropic(
            api_key=key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=httpx2.Timeout(timeout, connect=min(10.0, timeout)),
            middleware=[_count_attempts],
        )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def _params(self, request: ModelRequest) -> tuple[dict[str, Any], str]:
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        system = request.system
        if request.temperature is not None:
            # SDK 1.0 dropped the argument (the API still takes it on models that support
            # sampling; newer ones reject it with a 400): send it only when a node sets it.
            params["extra_body"] = {"temperature": request.temperature}
        schema = request.output_schema
        mode: str = "text"
        if schema is not None:
            mode = self.structured
            if mode == "auto":
                mode = "output_config" if strict_compatible(schema) else "tool"
            if mode == "output_config":
                from anthropic import transform_schema

                params["output_config"] = {
                    "format": {
                        "type": "json_schema",
                        "schema": transform_schema(_without_defaults(schema)),
                    }
                }
            elif mode == "tool":
                name = _TOOL_NAME.sub("_", request.output_name)[:64] or "answer"
                params["tools"] = [
                    {
                        "name": name,
                        "description": "Give the answer. Its input is the whole answer.",
                        "input_schema": schema,
                    }
                ]
                params["tool_choice"] = {"type": "tool", "name": name}
            else:
                system += "\n\nThe JSON Schema of the answer:\n" + json.dumps(schema)
        if system:
            params["system"] = system
        return params, mode

    async def complete(self, request: ModelRequest) -> ModelResponse:
        import anthropic as sdk

        check_model_request(self.base_url)
        try:
            params, mode = self._params(request)
        except ValueError as exc:  # transform_schema refused the schema
            raise ProviderError(
                f"node '{request.node_id}': its output schema cannot be sent as strict "
                f"structured output ({exc}); use structured='tool' or 'auto'"
            ) from exc
        attempts: list[int] = []
        token = _ATTEMPTS.set(attempts)
        self.calls += 1
        try:
            message = await self._client.messages.create(**params)
        except (sdk.AnthropicError, ValueError) as exc:
            retries = max(0, len(attempts) - 1)
            self.retries += retries
            raise map_error(
                exc, model=params["model"], retries=retries, timeout=self.timeout
            ) from exc
        finally:
            _ATTEMPTS.reset(token)
        retries = max(0, len(attempts) - 1)
        self.retries += retries
        text = _answer_text(message, mode)
        usage = message.usage
        meta: dict[str, Any] = {"retries": retries, "structured": mode, "id": message.id}
        if usage.cache_read_input_tokens:
            meta["cache_read_input_tokens"] = usage.cache_read_input_tokens
        if usage.cache_creation_input_tokens:
            meta["cache_creation_input_tokens"] = usage.cache_creation_input_tokens
        return ModelResponse(
            text=text,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            model=message.model,
            stop_reason=message.stop_reason,
            meta=meta,
        )

    async def aclose(self) -> None:
        if self._owns_client:  # a client passed in belongs to the caller
            await self._client.close()


def _answer_text(message: Any, mode: str) -> str:
    """The answer as text: the forced tool's input as JSON, else the text blocks joined."""
    if mode == "tool":
        for block in message.content:
            if getattr(block, "type", None) == "tool_use":
                return json.dumps(block.input, ensure_ascii=False)
    return "".join(
        block.text for block in message.content if getattr(block, "type", None) == "text"
    )


__all__ = ["DEFAULT_MODEL", "AnthropicProvider", "map_error", "strict_compatible"]
