"""A scripted OpenAI-compatible engine for tests of server/upstream.py: /v1/models and
/v1/chat/completions (JSON and streamed), answering from tables, recording every request and
how many were in flight at once, and misbehaving on demand (malformed output, errors, delays,
refusing json_schema or logprobs)."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from srllm import contract


def label_logprobs(probs: dict[str, float], spaced: bool = False) -> dict:
    """Chat logprobs for {"label": "<best>"} tokenised as `{"`, `label`, `":`, ` "`, then the
    label in two pieces; the label position carries one alternative per label."""
    import math

    best = max(probs, key=probs.get)
    head = ['{"', "label", '":', ' "'] if not spaced else ["{ ", '"label"', " : ", '"']
    pieces = [*head, best[:3], best[3:], '"}']
    content = []
    for piece in pieces:
        entry = {"token": piece, "logprob": 0.0, "top_logprobs": [{"token": piece, "logprob": 0.0}]}
        if piece == best[:3]:
            entry["logprob"] = math.log(probs[best])
            entry["top_logprobs"] = [
                {"token": label[:3], "logprob": math.log(p)} for label, p in probs.items() if p > 0
            ] + [{"token": "xyz", "logprob": -1.0}]  # not a label: ignored
        content.append(entry)
    return {"content": content}


@dataclass
class Script:
    p_biased: dict[str, float] = field(default_factory=dict)  # by text; default 0.1
    flag_json: str | None = None  # the biased flag's answer; None: a valid one
    rewrites: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before each answer (and between streamed tokens)
    status: int = 200  # anything else: an error answer
    refuse_json_schema: bool = False  # llama-cpp-python's server: 422 on type json_schema
    logprobs: bool = True
    model: str = "fake-model"
    requests: list[dict] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    disconnected: int = 0  # streams whose client left before the end
    cut_streams: bool = False  # end streams with [DONE] but no finish_reason
    tokenize: bool = True  # vLLM's /tokenize (ids and token strings, Ġ for a space)
    vocabulary: dict[str, int] = field(default_factory=dict)  # what tokenize handed out


def user_text(body: dict) -> str:
    message = body["messages"][-1]["content"]
    start = message.index(contract.TEXT_OPEN) + len(contract.TEXT_OPEN) + 1
    return message[start : message.rindex(contract.TEXT_CLOSE) - 1]


def create_fake(script: Script) -> Starlette:
    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": script.model, "object": "model"}]})

    async def chat(request: Request) -> Response:
        body = await request.json()
        script.requests.append(body)
        script.in_flight += 1
        script.max_in_flight = max(script.max_in_flight, script.in_flight)
        try:
            await asyncio.sleep(script.delay_s)
            if script.status != 200:
                return JSONResponse({"error": {"message": "engine overloaded"}}, script.status)
            fmt = body.get("response_format") or {}
            if script.refuse_json_schema and fmt.get("type") == "json_schema":
                # As llama-cpp-python 0.3.36's server: its validation errors are 500s.
                error = "1 validation error: {'loc': ('body', 'response_format', 'type')}"
                return JSONResponse({"error": {"message": error}}, 500)
            text = user_text(body)
            if body.get("stream"):
                answer = script.rewrites.get(text, text) + contract.TEXT_CLOSE + " trailing"
                for stop in body.get("stop") or []:  # as engines do: the stop string ends it
                    answer = answer.split(stop)[0]
                return StreamingResponse(stream(body, answer), media_type="text/event-stream")
            schema = fmt.get("schema") or (fmt.get("json_schema") or {}).get("schema") or {}
            labels = schema.get("properties", {}).get("label", {}).get("enum", [])
            p = script.p_biased.get(text, 0.1)
            message, logprobs = "", None
            if len(labels) == 3:  # the verdict
                probs = {"neutral": 1 - p, "slightly_biased": p * 0.75, "highly_biased": p * 0.25}
                best = max(probs, key=probs.get)
                message = json.dumps({"label": best})
                if script.logprobs and body.get("logprobs"):
                    logprobs = label_logprobs(probs)
            else:  # the rest of a biased flag, under its fixed label
                message = script.flag_json or json.dumps(
                    {"label": labels[0], "categories": ["age"], "biased_words": ["slow"],
                     "explanation": ""}
                )  # fmt: skip
            choice = {"index": 0, "message": {"role": "assistant", "content": message}}
            choice |= {"finish_reason": "stop", "logprobs": logprobs}
            return JSONResponse({"id": "x", "object": "chat.completion", "choices": [choice]})
        finally:
            script.in_flight -= 1

    async def stream(body: dict, answer: str):
        words = answer.split(" ")
        sent = 0
        try:
            for i, word in enumerate(words):
                await asyncio.sleep(script.delay_s)
                delta = word if i == len(words) - 1 else word + " "
                chunk = {"choices": [{"index": 0, "delta": {"content": delta}}]}
                yield f"data: {json.dumps(chunk)}\n\n"
                sent += 1
            if not script.cut_streams:
                yield 'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
            yield "data: [DONE]\n\n"
        finally:
            if sent < len(words):
                script.disconnected += 1

    async def tokenize(request: Request) -> Response:
        if not script.tokenize:
            return JSONResponse({"detail": "Not Found"}, 404)
        body = await request.json()
        pieces = re.findall(r" ?\w+| ?[^\w\s]|\s", body["prompt"])
        ids = [script.vocabulary.setdefault(p, 1000 + len(script.vocabulary)) for p in pieces]
        strs = [p.replace(" ", "\u0120") for p in pieces]
        return JSONResponse({"count": len(ids), "tokens": ids, "token_strs": strs})

    return Starlette(
        routes=[
            Route("/tokenize", tokenize, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )
