"""Parsing and validating request bodies into plain values, with user-facing errors."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from srllm.errors import Code, SrllmError
from srllm.server.task import Options


async def read_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SrllmError(Code.BAD_REQUEST, f"body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise SrllmError(Code.BAD_REQUEST, "body is not valid JSON: nested too deeply") from None
    except ValueError:  # an integer past int's 4300-digit conversion limit
        raise SrllmError(
            Code.BAD_REQUEST, "body is not valid JSON: a number has too many digits"
        ) from None
    if not isinstance(data, dict):
        raise SrllmError(Code.INVALID_REQUEST, "body must be a JSON object")
    return data


def text_field(data: dict[str, Any], max_chars: int) -> str:
    text = data.get("text")
    if text is None:
        raise SrllmError(Code.INVALID_REQUEST, "field 'text' is required")
    if not isinstance(text, str):
        raise SrllmError(Code.INVALID_REQUEST, "field 'text' must be a string")
    if not text.strip():
        raise SrllmError(Code.INVALID_REQUEST, "field 'text' must not be empty")
    _encodable(text, "text")
    if len(text) > max_chars:
        raise SrllmError(
            Code.TEXT_TOO_LONG,
            f"text is {len(text)} characters; the limit is {max_chars} characters",
            limit=max_chars,
            unit="characters",
        )
    return text


def _encodable(value: str, name: str) -> None:
    """JSON allows a lone surrogate ("\\ud800"); UTF-8, and so the model, does not."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SrllmError(
            Code.INVALID_REQUEST,
            f"field '{name}' contains an unpaired surrogate at character {exc.start}",
        ) from None


def task_options(data: dict[str, Any]) -> Options:
    """`strictness`, `allow` and `mute` of /v1/flag, /v1/rewrite, /v1/debias and /v1/scan
    (Options)."""
    return Options.build(data.get("strictness"), data.get("allow"), data.get("mute"))


def bool_field(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise SrllmError(Code.INVALID_REQUEST, f"field '{name}' must be true or false")
    return value


def number_field(
    data: dict[str, Any], name: str, default: float, low: float, high: float, integer: bool = False
) -> float:
    value = data.get(name, default)
    if value is None:
        return default
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise SrllmError(
            Code.INVALID_REQUEST, f"field '{name}' must be {kind} from {low} to {high}"
        )
    return value


def chat_messages(data: dict[str, Any]) -> list[dict[str, str]]:
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SrllmError(Code.INVALID_REQUEST, "field 'messages' must be a non-empty list")
    result = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise SrllmError(Code.INVALID_REQUEST, f"messages[{i}] must be an object")
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "user", "assistant"):
            raise SrllmError(
                Code.INVALID_REQUEST, f"messages[{i}].role must be system, user or assistant"
            )
        if not isinstance(content, str):
            raise SrllmError(Code.INVALID_REQUEST, f"messages[{i}].content must be a string")
        _encodable(content, f"messages[{i}].content")
        result.append({"role": role, "content": content})
    return result


def stop_field(data: dict[str, Any]) -> list[str] | None:
    stop = data.get("stop")
    if stop is None:
        return None
    if isinstance(stop, str):
        stop = [stop]  # "" would stop every generation before its first token
    if isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) and s for s in stop):
        for i, s in enumerate(stop):
            _encodable(s, f"stop[{i}]")  # llama_cpp encodes each stop string as UTF-8
        return stop
    raise SrllmError(
        Code.INVALID_REQUEST,
        "field 'stop' must be a non-empty string or a list of up to 4 non-empty strings",
    )


MAX_SEGMENT_ID_CHARS = 256


def scan_items(
    data: dict[str, Any], max_chars: int, max_segments: int
) -> tuple[list[tuple[str, str | int | None]], bool]:
    """The body of /v1/scan: `text` (one string), or `segments` (a list of {"id", "text"});
    exactly one of them. Returns (id, text) pairs, id None for `text`, and whether segments
    were sent. An empty segment is allowed (it has no sentences); ids must be unique."""
    if ("text" in data) == ("segments" in data):
        raise SrllmError(Code.INVALID_REQUEST, "send exactly one of 'text' and 'segments'")
    if "text" in data:
        return [(None, text_field(data, max_chars))], False
    segments = data["segments"]
    if not isinstance(segments, list) or not segments:
        raise SrllmError(Code.INVALID_REQUEST, "field 'segments' must be a non-empty list")
    if len(segments) > max_segments:
        raise SrllmError(
            Code.TEXT_TOO_LONG,
            f"{len(segments)} segments; the limit is {max_segments} segments",
            limit=max_segments,
            unit="segments",
        )
    items: list[tuple[str, str | int | None]] = []
    seen: set = set()
    total = 0
    for i, segment in enumerate(segments):
        if not isinstance(segment, dict):
            raise SrllmError(Code.INVALID_REQUEST, f"segments[{i}] must be an object")
        sid, text = segment.get("id"), segment.get("text")
        if isinstance(sid, bool) or not isinstance(sid, str | int):
            raise SrllmError(
                Code.INVALID_REQUEST, f"segments[{i}].id must be a string or an integer"
            )
        if isinstance(sid, str) and not 0 < len(sid) <= MAX_SEGMENT_ID_CHARS:
            raise SrllmError(
                Code.INVALID_REQUEST,
                f"segments[{i}].id must be 1 to {MAX_SEGMENT_ID_CHARS} characters",
            )
        if isinstance(sid, str):
            _encodable(sid, f"segments[{i}].id")
        if sid in seen:
            raise SrllmError(Code.INVALID_REQUEST, f"segments[{i}].id {sid!r} is not unique")
        seen.add(sid)
        if not isinstance(text, str):
            raise SrllmError(Code.INVALID_REQUEST, f"segments[{i}].text must be a string")
        _encodable(text, f"segments[{i}].text")
        total += len(text)
        items.append((sid, text))
    if total > max_chars:
        raise SrllmError(
            Code.TEXT_TOO_LONG,
            f"segments hold {total} characters; the limit is {max_chars} characters",
            limit=max_chars,
            unit="characters",
        )
    return items, True
