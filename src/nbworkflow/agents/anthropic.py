"""The ``anthropic`` provider: nodes answered by Claude through the official SDK.

(Over 400 lines on purpose: Claude on Anthropic, Bedrock and Vertex share this one request
shaping and error map; only the client differs.)

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

from ..config import DEFAULT_MODEL
from ..exceptions import ProviderError
from .base import ModelRequest, ModelResponse
from .failures import retries_note, timed_out, unreachable
from .guard import check_model_request
from .models import model_for
from .network import HostCheck
from .strict import strict_compatible, without_defaults

if TYPE_CHECKING:
    import anthropic

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


_CLOUDS: dict[str, tuple[str, str, str]] = {
    "anthropic": ("the Anthropic API", "ANTHROPIC_BASE_URL", ""),
    "bedrock": (
        "AWS Bedrock",
        "ANTHROPIC_BEDROCK_BASE_URL",
        "AWS credentials are missing or invalid, or the model is not enabled for them "
        "({status}): check AWS_PROFILE / AWS_ACCESS_KEY_ID / AWS_BEARER_TOKEN_BEDROCK, "
        "AWS_REGION, and model access for '{model}' in the Bedrock console",
    ),
    "vertex": (
        "Google Vertex AI",
        "ANTHROPIC_VERTEX_BASE_URL",
        "Google Cloud credentials are missing or invalid, or the model is not enabled "
        "({status}): run `gcloud auth application-default login`, check CLOUD_ML_REGION, "
        "ANTHROPIC_VERTEX_PROJECT_ID and access to '{model}' in Model Garden",
    ),
}
"""Per vendor of Claude: how messages name it, its base URL variable, and the fix for 401/403
(the cloud's own credentials, not ``ANTHROPIC_API_KEY``)."""


def map_error(
    exc: BaseException,
    *,
    model: str,
    retries: int = 0,
    timeout: float | None = None,
    vendor: str = "anthropic",
) -> ProviderError:
    """The one place SDK errors become the project's errors (callers raise ``from exc``)."""
    import anthropic as sdk

    label, base_env, auth_fix = _CLOUDS.get(vendor, _CLOUDS["anthropic"])
    note = retries_note(retries)
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError(timed_out(timeout, retries), retryable=True)
    if isinstance(exc, sdk.APIConnectionError):
        fix = f"check the network, a proxy, or {base_env}"
        return ProviderError(
            unreachable(label, exc.request.url, exc.__cause__, retries, fix), retryable=True
        )
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        detail = exc.api_message or (exc.body if isinstance(exc.body, str) else "") or ""
        detail = str(detail)[:300]
        said = f" (the API said: {detail})" if detail else ""
        if auth_fix and status in (401, 403):
            msg = auth_fix.format(status=status, model=model)
            return ProviderError(msg + said, status_code=status, retryable=False)
        if status in _STATUS_FIXES:
            template, retryable = _STATUS_FIXES[status]
            msg = template.format(model=model, note=note)
            return ProviderError(msg + said, status_code=status, retryable=retryable)
        if status == 529 or status >= 500:
            # The server may say a retry is pointless; then the node must not retry either.
            retryable = exc.response.headers.get("x-should-retry") != "false"
            kind = "overloaded" if status == 529 else "failed"
            msg = f"{label} {kind} ({status}){note}: try again later"
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
        self.vendor = "anthropic"
        """Which vendor answers (``bedrock``/``vertex`` for Claude on a cloud)."""
        self._hosts = HostCheck(hint="or ANTHROPIC_BASE_URL")
        self.calls = 0
        self.retries = 0
        """HTTP retries over all calls (transient failures the SDK retried)."""
        self._owns_client = client is None
        self._options: dict[str, Any] | None = None
        """What rebuilds this provider elsewhere (pickling); ``None`` for a caller's client."""
        if client is not None:
            # A copy that shares the caller's connection pool, plus the retry counter.
            self._client = client.with_middleware(_count_attempts)
            return
        self._options = {
            "model": model,
            "api_key": api_key,
            "base_url": base_url,
            "max_retries": max_retries,
            "timeout": timeout,
            "structured": structured,
        }
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

    @classmethod
    def on_cloud(
        cls,
        vendor: str,
        model: str | None = None,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float = DEFAULT_TIMEOUT,
        structured: StructuredMode = "auto",
        **cloud: Any,
    ) -> AnthropicProvider:
        """Claude on AWS Bedrock (``vendor="bedrock"``) or Google Vertex AI (``"vertex"``),
        through the SDK's own ``AsyncAnthropicBedrock``/``AsyncAnthropicVertex``.

        ``cloud`` goes to that client as it is: Bedrock ``aws_region``, ``aws_profile``,
        ``aws_access_key``, ``aws_secret_key``, ``aws_session_token`` or ``api_key`` (else
        the AWS environment: ``AWS_REGION``, ``AWS_BEARER_TOKEN_BEDROCK``, profiles; SigV4
        signing needs the ``bedrock`` extra, boto3); Vertex ``region``, ``project_id``,
        ``access_token`` (else ``CLOUD_ML_REGION``, ``ANTHROPIC_VERTEX_PROJECT_ID`` and
        Application Default Credentials: the ``vertex`` extra, google-auth); ``base_url``.
        """
        import anthropic as sdk
        import httpx2

        kinds = {"bedrock": sdk.AsyncAnthropicBedrock, "vertex": sdk.AsyncAnthropicVertex}
        if vendor not in kinds:
            raise ProviderError(f"unknown cloud '{vendor}' for Claude: use bedrock or vertex")
        try:
            client = kinds[vendor](
                max_retries=max_retries,
                timeout=httpx2.Timeout(timeout, connect=min(10.0, timeout)),
                **cloud,
            )
        except (ValueError, TypeError, sdk.AnthropicError) as exc:
            fix = (
                "set AWS_REGION (or aws_region) and AWS credentials"
                if vendor == "bedrock"
                else "set CLOUD_ML_REGION and ANTHROPIC_VERTEX_PROJECT_ID (or region, project_id)"
            )
            raise ProviderError(f"cannot set up Claude on {vendor}: {exc}; {fix}") from exc
        provider = cls(model, client=client, structured=structured, max_retries=max_retries)
        provider.timeout = timeout
        provider.vendor = provider.name = vendor
        provider._owns_client = True
        provider._options = {
            "model": model,
            "max_retries": max_retries,
            "timeout": timeout,
            "structured": structured,
            **cloud,
        }
        _label, base_env, _fix = _CLOUDS[vendor]
        provider._hosts = HostCheck(hint=f"or {base_env}")
        return provider

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def _params(self, request: ModelRequest) -> tuple[dict[str, Any], str]:
        params: dict[str, Any] = {
            "model": model_for(request.model, self.vendor) or self.model,
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
                        "schema": transform_schema(without_defaults(schema)),
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
        await self._hosts.check(self.base_url)
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
        except ImportError as exc:  # the cloud clients import their auth libraries per request
            extra = {"bedrock": "bedrock", "vertex": "vertex"}.get(self.vendor, "")
            raise ProviderError(
                f"Claude on {self.vendor} needs {exc.name or 'a package'} to sign its requests: "
                f"pip install 'nbworkflow[{extra}]'"
                + (" (or use an API key: AWS_BEARER_TOKEN_BEDROCK)" if extra == "bedrock" else "")
                + (" (or pass access_token)" if extra == "vertex" else "")
            ) from exc
        except (sdk.AnthropicError, ValueError) as exc:
            retries = max(0, len(attempts) - 1)
            self.retries += retries
            raise map_error(
                exc,
                model=params["model"],
                retries=retries,
                timeout=self.timeout,
                vendor=self.vendor,
            ) from exc
        finally:
            _ATTEMPTS.reset(token)
        retries = max(0, len(attempts) - 1)
        self.retries += retries
        text = _answer_text(message, mode)
        usage = message.usage
        meta: dict[str, Any] = {
            "retries": retries,
            "structured": mode,
            "id": message.id,
            "vendor": self.vendor,
        }
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

    def __reduce__(self) -> tuple[Any, ...]:
        # Name and options: an SDK client holds sockets and belongs to one process.
        if self._options is None:
            raise TypeError(
                "an AnthropicProvider built on your own client cannot be pickled: build it "
                "from options (api_key, base_url, ...) to send it to another process"
            )
        return (_rebuild, (self.vendor, self._options))

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


def _rebuild(vendor: str, options: dict[str, Any]) -> AnthropicProvider:
    """Unpickle: build the provider again from its vendor and options."""
    if vendor == "anthropic":
        return AnthropicProvider(**options)
    return AnthropicProvider.on_cloud(vendor, **options)
