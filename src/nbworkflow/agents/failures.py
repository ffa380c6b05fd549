"""Message pieces every vendor's ``map_error`` shares, so failures read the same everywhere."""

from __future__ import annotations


def retries_note(retries: int) -> str:
    """`` after 2 retries`` (empty when the SDK did not retry)."""
    return f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""


def timed_out(timeout: float | None, retries: int, *, where: str = "") -> str:
    limit = f" after {timeout:g} s" if timeout else ""
    return (
        f"the model call{where} timed out{limit}{retries_note(retries)}: raise the provider's "
        "timeout or lower the node's max_tokens"
    )


def unreachable(
    label: str, url: object, cause: BaseException | None, retries: int, fix: str
) -> str:
    why = f" ({type(cause).__name__}: {cause})" if cause else ""
    return f"could not reach {label} at {url}{why}{retries_note(retries)}: {fix}"


__all__ = ["retries_note", "timed_out", "unreachable"]
