"""The upstream engine: the contract's tasks on a shared OpenAI-compatible inference engine
(vLLM, llama.cpp's llama-server, llama-cpp-python's server, Ollama), behind the same interface
as server.engine.Engine, so nothing in the task, the scan or the routes knows which one runs.

    srllm serve --upstream http://gpu-box:8000/v1 [--upstream-model NAME]
                [--upstream-key-env VAR] [--upstream-concurrency 8]

What it asks of the engine, all through POST {url}/chat/completions (the engine renders the
chat template):
- The verdict: the flag prompt, a JSON schema that allows only {"label": <one of the three>},
  and `logprobs` with `top_logprobs`. P(label) is read at the first token of the label value,
  normalised over the three labels (as Engine.label_probabilities does over their first tokens);
  the engine's grammar fixes everything before it. An engine that gives no logprobs gets the
  greedy label instead (P(biased) 1 or 0), and /health says `"verdict": "greedy"`.
- A biased flag's categories and words: the contract's bounded schema with the label fixed
  (contract.flag_schema), parsed, retried once at temperature 0.3, then model_output_invalid.
- Structured output: OpenAI's `{"type": "json_schema", "json_schema": {...}}` first (vLLM,
  llama-server, Ollama); an engine that refuses it (llama-cpp-python's server: a 500 naming
  response_format) is asked with `{"type": "json_object", "schema": ...}` from then on.
- Rewrites and raw chat: streamed, stop at </text>, greedy.

- A guided rewrite (Task asks for one for every biased sentence): the highlighted words
  pushed down through `logit_bias`, their token ids from the engine's tokenize endpoint (vLLM's
  and llama-server's /tokenize, llama-cpp-python's /extras/tokenize); an engine without one gets
  a rewrite sampled at temperature 0.3 instead.

Token counts for the length limits are estimated from UTF-8 bytes (3 per token, an
overestimate for English): one request per sentence just to count would cost more than it saves.

Standard library HTTP (http.client), blocking, one keep-alive connection per thread; calls run
in the server's worker threads, up to `concurrency` at once (server.runner). A cancelled call
has its socket shut down, so the engine sees the client leave and stops generating.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import logging
import math
import os
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from srllm import contract
from srllm.defaults import DEFAULT_CTX
from srllm.errors import Code, SrllmError
from srllm.http_conns import ThreadConnections

log = logging.getLogger("srllm.upstream")

DEFAULT_THRESHOLD = 0.5
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_CONCURRENCY = 8
TOP_LOGPROBS = 20  # OpenAI's maximum; the three labels' first tokens are always among them
VERDICT_MAX_TOKENS = 24  # {"label": "slightly_biased"} and some whitespace
GUIDED_TEMPERATURE = 0.3
BYTES_PER_TOKEN = 3
AVOID_BIAS = -8.0  # as server.engine.AVOID_BIAS: a synonym wins where there is one, not a ban
HEALTH_TIMEOUT_S = 5.0
# The verdict alone: the engine's grammar writes {"label": " and the model picks the label.
VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": list(contract.LABELS)}},
    "required": ["label"],
    "additionalProperties": False,
}
_LABEL_VALUE = re.compile(r'"label"\s*:\s*"')


@dataclass(frozen=True)
class UpstreamConfig:
    url: str  # the engine's OpenAI base URL, e.g. http://gpu-box:8000/v1
    model: str | None = None  # None: the first model the engine lists
    api_key: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    timeout_s: float = DEFAULT_TIMEOUT_S
    n_ctx: int = DEFAULT_CTX  # the context the engine serves the model with (--ctx)
    flag_threshold: float | None = None  # None: 0.5; a fine-tune's calibrated one when given
    seed: int = 0

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SrllmError(
                Code.BAD_CONFIG,
                f"--upstream must be the engine's OpenAI base URL, like http://gpu-box:8000/v1; "
                f"got {self.url!r}",
            )
        if self.concurrency < 1:
            raise SrllmError(
                Code.BAD_CONFIG,
                f"--upstream-concurrency must be at least 1, got {self.concurrency}",
            )
        if self.timeout_s <= 0:
            raise SrllmError(Code.BAD_CONFIG, "--upstream-timeout must be positive")
        if self.flag_threshold is not None and not 0.0 < self.flag_threshold < 1.0:
            raise SrllmError(Code.BAD_CONFIG, "--flag-threshold must be between 0 and 1")


@dataclass
class UpstreamInfo:
    """What /health and the task read of the model (the fields of engine.ModelInfo)."""

    name: str
    path: str  # the cache key's model part: the engine and model, never a local file
    flag_threshold: float
    n_ctx: int
    finetuned: bool | None = None  # unknown: the engine does not say what it serves
    contract: str | None = None
    file_type: str | None = None
    size_bytes: int = 0
    n_gpu_layers: int = 0
    gpu_offload: bool = False
    training: dict | None = None
    rewriter: dict | None = None  # the engine rewrites with what it serves
    scan: dict | None = None  # and scores scans with it
    engine: str = "upstream"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class _Watch:
    """Shuts down the socket of every call whose cancel event is set: a blocked read then ends
    at once, and the engine sees its client leave (vLLM and llama-server stop generating)."""

    def __init__(self) -> None:
        self._calls: dict[int, tuple[http.client.HTTPConnection, threading.Event]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watching(self, conn: http.client.HTTPConnection, cancel: threading.Event | None):
        if cancel is None:
            yield
            return
        key = id(conn)
        with self._lock:
            self._calls[key] = (conn, cancel)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="upstream-watch")
                self._thread.daemon = True
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._calls.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(0.05)
            with self._lock:
                calls = list(self._calls.values())
            for conn, cancel in calls:
                if cancel.is_set() and conn.sock is not None:
                    with contextlib.suppress(OSError):
                        conn.sock.shutdown(socket.SHUT_RDWR)


class UpstreamEngine:
    def __init__(self, config: UpstreamConfig):
        self.config = config
        self.concurrency = config.concurrency  # server.runner runs this many calls at once
        parsed = urllib.parse.urlsplit(config.url)
        self._conns = ThreadConnections(config.url, config.timeout_s)
        self._base = parsed.path.rstrip("/")  # /v1
        self._root = self._base.removesuffix("/v1")  # where /tokenize lives
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if config.api_key:
            self._headers["Authorization"] = f"Bearer {config.api_key}"
        self._watch = _Watch()
        self._model = config.model
        self._schema_style = "json_schema"  # -> "json_object" when the engine refuses it
        self._logprobs: bool | None = None  # None: not known yet; False: greedy verdicts
        # Which tokenize endpoint the engine has ("root": vLLM's and llama-server's /tokenize,
        # "extras": llama-cpp-python's /extras/tokenize), False for none, None not known yet.
        self._tokenizer: str | bool | None = None
        self._first_tokens: dict[str, tuple[int, str]] = {}
        self._extras_prefix: list[int] | None = None
        self._pool: ThreadPoolExecutor | None = None
        threshold = DEFAULT_THRESHOLD if config.flag_threshold is None else config.flag_threshold
        self.info = UpstreamInfo(
            name=config.model or "upstream",
            path=f"{config.url.rstrip('/')}#{config.model or ''}",
            flag_threshold=threshold,
            n_ctx=config.n_ctx,
        )

    # -- HTTP ----------------------------------------------------------------------------------

    def _failure(self, exc: BaseException, cancel: threading.Event | None) -> SrllmError:
        self._conns.drop()
        if cancel is not None and cancel.is_set():
            return SrllmError(Code.CANCELLED, "generation cancelled")
        if isinstance(exc, TimeoutError):
            return SrllmError(
                Code.UPSTREAM_TIMEOUT,
                f"the inference engine did not answer in {self.config.timeout_s:.0f} s",
            )
        return SrllmError(
            Code.UPSTREAM_UNAVAILABLE, f"cannot reach the inference engine: {exc or type(exc)}"
        )

    @contextlib.contextmanager
    def _call(
        self,
        method: str,
        path: str,
        body: dict | None,
        cancel: threading.Event | None,
        timeout: float | None = None,
        root: bool = False,
    ) -> Iterator[http.client.HTTPResponse]:
        """An open response with status 200; any other status, a connection failure or a
        timeout becomes an SrllmError (upstream_*, or cancelled when cancel was set). `path`
        is under the OpenAI base URL, or with `root` under the engine's root (/tokenize)."""
        path = (self._root if root else self._base) + path
        if cancel is not None and cancel.is_set():
            raise SrllmError(Code.CANCELLED, "generation cancelled")
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        for attempt in range(2):  # a keep-alive connection the engine closed: once more
            conn = self._conns.get()
            conn.timeout = timeout or self.config.timeout_s
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            with self._watch.watching(conn, cancel):
                try:
                    conn.request(method, path, body=payload, headers=self._headers)
                    response = conn.getresponse()
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    if attempt == 0 and not (cancel is not None and cancel.is_set()):
                        self._conns.drop()
                        continue
                    raise self._failure(ConnectionResetError("connection closed"), cancel) from None
                except (OSError, http.client.HTTPException) as exc:
                    raise self._failure(exc, cancel) from None
                if response.status != 200:
                    raw = self._read(response, cancel)
                    raise _status_error(response.status, raw)
                try:
                    yield response
                except (OSError, http.client.HTTPException) as exc:
                    raise self._failure(exc, cancel) from None
                finally:
                    # A response not read to its end (a stream left early) leaves the
                    # connection unusable; so does an engine that closes it.
                    closing = response.getheader("connection", "").lower() == "close"
                    if closing or not response.isclosed():
                        self._conns.drop()
                return

    def _read(self, response: http.client.HTTPResponse, cancel) -> bytes:
        try:
            return response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise self._failure(exc, cancel) from None

    def _json(self, path: str, body: dict | None, cancel=None, timeout=None, root=False) -> dict:
        method = "POST" if body is not None else "GET"
        with self._call(method, path, body, cancel, timeout, root) as r:
            raw = r.read()
        try:
            data = json.loads(raw)
        except ValueError:
            raise SrllmError(
                Code.UPSTREAM_BAD_RESPONSE, f"the inference engine answered {path} with non-JSON"
            ) from None
        if not isinstance(data, dict):
            raise SrllmError(Code.UPSTREAM_BAD_RESPONSE, f"{path}: the answer is not an object")
        return data

    def _events(self, body: dict, cancel: threading.Event | None) -> Iterator[dict]:
        """The chunks of a streamed chat completion (server-sent events, `data: {...}`)."""
        with self._call("POST", "/chat/completions", body, cancel) as response:
            while True:
                if cancel is not None and cancel.is_set():
                    self._conns.drop()  # the rest of this stream is never read: not reusable
                    return
                line = response.readline()
                if not line:
                    return
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue  # blank separators, comments, `event:` lines
                data = line[5:].strip()
                if data == b"[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except ValueError:
                    raise SrllmError(
                        Code.UPSTREAM_BAD_RESPONSE, "the inference engine streamed non-JSON"
                    ) from None
                if isinstance(chunk, dict) and "error" in chunk:
                    raise SrllmError(
                        Code.UPSTREAM_BAD_RESPONSE,
                        f"the inference engine failed mid-stream: {_message(chunk)}",
                    )
                yield chunk

    # -- requests ------------------------------------------------------------------------------

    def model_name(
        self, cancel: threading.Event | None = None, timeout: float | None = None
    ) -> str:
        """--upstream-model, else the first model the engine lists (asked once)."""
        if self._model is None:
            data = self._json("/models", None, cancel, timeout)
            try:
                self._model = str(data["data"][0]["id"])
            except (KeyError, IndexError, TypeError):
                raise SrllmError(
                    Code.UPSTREAM_BAD_RESPONSE,
                    "the inference engine lists no model at /models; pass --upstream-model",
                ) from None
            self.info.name = self._model
        return self._model

    def _response_format(self, schema: dict, name: str) -> dict:
        if self._schema_style == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True},
            }
        return {"type": "json_object", "schema": schema}  # llama-cpp-python's server

    def _complete(self, body: dict, cancel, schema: dict | None = None, name: str = "") -> dict:
        """A non-streamed chat completion's first choice. What the engine refuses (an error
        naming it: 400 or 422, and 500 from llama-cpp-python's server, whose validation errors
        are 500s) is learnt once and kept: OpenAI's json_schema form (then json_object with a
        schema, llama-cpp-python's form), and logprobs (then greedy verdicts)."""
        body = {"model": self.model_name(cancel), "seed": self.config.seed, **body}
        while True:
            if schema is not None:
                body["response_format"] = self._response_format(schema, name)
            try:
                data = self._json("/chat/completions", body, cancel)
                break
            except SrllmError as exc:
                said = exc.message.lower()
                if exc.details.get("upstream_status") not in (400, 422, 500):
                    raise
                if (
                    schema is not None
                    and self._schema_style == "json_schema"
                    and ("response_format" in said or "json_schema" in said)
                ):
                    log.warning("the engine refused json_schema; using json_object: %s", said)
                    self._schema_style = "json_object"
                elif "logprobs" in body and "logprobs" in said:
                    log.warning("the engine refused logprobs; verdicts are greedy: %s", said)
                    self._logprobs = False
                    body = {k: v for k, v in body.items() if k not in ("logprobs", "top_logprobs")}
                else:
                    raise
        try:
            return data["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise SrllmError(
                Code.UPSTREAM_BAD_RESPONSE, "the inference engine's answer has no choices"
            ) from None

    # -- sizes (estimated: the engine's tokenizer is not here) ----------------------------------

    def count_tokens(self, text: str) -> int:
        return max(1, math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN))

    def max_text_tokens(self) -> int:
        return contract.max_text_tokens(self.info.n_ctx)

    def check_length(self, text: str) -> int:
        return contract.check_text_tokens(
            self.count_tokens(text), self.info.n_ctx, approximate=True
        )

    def rewrite_budget(self, text: str) -> int:
        return min(2 * self.count_tokens(text) + 32, self.info.n_ctx // 2)

    def count_chat_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    # -- the verdict ---------------------------------------------------------------------------

    def label_probabilities(
        self, text: str, cancel: threading.Event | None = None
    ) -> dict[contract.Label, float]:
        """P(verdict) at the label's first token (see the module doc), or the greedy label as
        probability 1 when the engine gives no logprobs."""
        body: dict = {
            "messages": contract.messages(contract.Task.FLAG, text),
            "max_tokens": VERDICT_MAX_TOKENS,
            "temperature": 0.0,
        }
        if self._logprobs is not False:
            body |= {"logprobs": True, "top_logprobs": TOP_LOGPROBS}
        choice = self._complete(body, cancel, VERDICT_SCHEMA, "srllm_verdict")
        content = (choice.get("message") or {}).get("content") or ""
        tokens = ((choice.get("logprobs") or {}).get("content")) or []
        if tokens:
            probs = label_probabilities_from_logprobs(tokens)
            if probs is not None:
                self._logprobs = True
                return probs
        if self._logprobs is None and not tokens:
            log.warning("the inference engine returned no logprobs: verdicts are greedy labels")
            self._logprobs = False
        return _greedy(content)

    def scan_engine(self) -> UpstreamEngine:
        """Scans score on the inference engine too (no local scan model)."""
        return self

    def label_probabilities_many(
        self, texts: list[str], cancel: threading.Event | None = None
    ) -> list[dict[contract.Label, float]]:
        """label_probabilities of every text, `concurrency` requests at a time (the engine
        batches them); stops starting new ones once cancel is set."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="upstream-scan")
        futures = [self._pool.submit(self.label_probabilities, t, cancel) for t in texts]
        try:
            return [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()

    def flag(
        self, text: str, cancel: threading.Event | None = None, threshold: float | None = None
    ) -> contract.Flag:
        """As Engine.flag: the verdict from P(biased) against the threshold; a biased one's
        categories and words generated under the schema with the label fixed, retried once."""
        probs = self.label_probabilities(text, cancel)
        p_biased = 1.0 - probs[contract.Label.NEUTRAL]
        cut = self.info.flag_threshold if threshold is None else threshold
        if p_biased < cut:
            return contract.Flag(contract.Label.NEUTRAL, p_biased=p_biased)
        label = max((contract.Label.SLIGHTLY_BIASED, contract.Label.HIGHLY_BIASED), key=probs.get)
        schema = contract.flag_schema(label, contract.candidate_words(text) or None)
        last_error: Exception | None = None
        for attempt, temperature in enumerate((0.0, GUIDED_TEMPERATURE)):
            body = {
                "messages": contract.messages(contract.Task.FLAG, text),
                "max_tokens": contract.FLAG_MAX_TOKENS * (attempt + 1),
                "temperature": temperature,
                "seed": self.config.seed + attempt,
            }
            choice = self._complete(body, cancel, schema, "srllm_flag")
            raw = (choice.get("message") or {}).get("content") or ""
            try:
                return dataclasses.replace(contract.parse_flag(raw), p_biased=p_biased)
            except contract.FlagParseError as exc:
                log.warning("flag output did not parse (attempt %d): %s", attempt + 1, exc)
                last_error = exc
        raise SrllmError(
            Code.MODEL_OUTPUT_INVALID, f"the model did not produce a valid flag: {last_error}"
        )

    def warm_up(self) -> None:
        """Learn the model's name and whether the engine gives logprobs; a failure is logged,
        not raised: the server starts, and /health says the engine does not answer."""
        try:
            # A short first try: a host that drops packets would hold the start for the full
            # timeout.
            self._json("/models", None, timeout=HEALTH_TIMEOUT_S)
            self.label_probabilities("Hello.")
        except SrllmError as exc:
            log.warning("the inference engine at %s: %s", self.config.url, exc.message)

    # -- generation ----------------------------------------------------------------------------

    def _stream(self, body: dict, cancel) -> Iterator[tuple[str, str | None]]:
        body = {"model": self.model_name(cancel), "seed": self.config.seed, **body, "stream": True}
        finished = False
        for chunk in self._events(body, cancel):
            choices = chunk.get("choices") or []
            if not choices:
                continue  # a usage chunk
            choice = choices[0]
            delta = (choice.get("delta") or {}).get("content") or ""
            finished = finished or bool(choice.get("finish_reason"))
            yield delta, choice.get("finish_reason")
        if not finished and not (cancel is not None and cancel.is_set()):
            # Every OpenAI stream ends with a finish_reason; one without was cut short (e.g.
            # llama-cpp-python's server interrupting it for the next request): never pass a
            # truncated rewrite off as whole.
            raise SrllmError(
                Code.UPSTREAM_BAD_RESPONSE, "the inference engine ended the stream early"
            )

    def stream_rewrite(
        self, text: str, cancel: threading.Event | None = None, avoid: list[str] | None = None
    ) -> Iterator[str]:
        """The rewrite as deltas (clean the joined text with contract.clean_rewrite). With
        `avoid`, the highlighted words are pushed down through `logit_bias` as the embedded
        engine does, with token ids from the engine's tokenize endpoint; an engine without one
        gets a rewrite sampled at GUIDED_TEMPERATURE instead."""
        bias = self.avoid_bias(avoid, cancel) if avoid else None
        body: dict = {
            "messages": contract.messages(contract.Task.REWRITE, text),
            "max_tokens": self.rewrite_budget(text),
            "temperature": GUIDED_TEMPERATURE if avoid and bias is None else 0.0,
            "stop": [contract.TEXT_CLOSE],
        }
        if bias:
            body["logit_bias"] = {str(token): value for token, value in bias.items()}
        yield from contract.clean_deltas(delta for delta, _ in self._stream(body, cancel))

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        seed: int | None,
        cancel: threading.Event | None = None,
    ) -> Iterator[tuple[str, str | None]]:
        body: dict = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature}
        if stop:
            body["stop"] = stop
        if seed is not None:
            body["seed"] = seed
        yield from self._stream(body, cancel)

    # -- token ids, for a guided rewrite's logit_bias ------------------------------------------

    def avoid_bias(
        self, words: list[str], cancel: threading.Event | None = None
    ) -> dict[int, float] | None:
        """Engine.avoid_bias through the engine's own tokenizer: the first token of each of
        contract.avoided_spellings(words) when that token holds 3 characters or more. None when
        the engine cannot tokenize."""
        bias: dict[int, float] = {}
        for spelling in contract.avoided_spellings(words):
            first = self._first_token(spelling, cancel)
            if first is None:
                return None
            if first[0] >= 0 and len(first[1].strip()) >= 3:
                bias[first[0]] = AVOID_BIAS
        return bias

    def _first_token(self, text: str, cancel) -> tuple[int, str] | None:
        """(id, text) of the first token of `text` (id -1 for none), or None without a tokenize
        endpoint. The endpoint is found on first use and kept."""
        if self._tokenizer is False:
            return None
        if text in self._first_tokens:
            return self._first_tokens[text]
        for kind in [self._tokenizer] if self._tokenizer else ["root", "extras"]:
            try:
                first = self._first_token_by(str(kind), text, cancel)
            except SrllmError as exc:
                missing = exc.details.get("upstream_status") in (400, 404, 405, 422)
                if self._tokenizer or not missing:  # a real failure, not a missing endpoint
                    raise
                first = None  # no such endpoint here: try the next
            if first is not None:
                self._tokenizer = kind
                if len(self._first_tokens) < 4096:
                    self._first_tokens[text] = first
                return first
        log.warning("the inference engine has no tokenize endpoint: guided rewrites are sampled")
        self._tokenizer = False
        return None

    def _first_token_by(self, kind: str, text: str, cancel) -> tuple[int, str] | None:
        if kind == "root":  # one body for both: each engine reads its own fields
            body = {"model": self.model_name(cancel), "prompt": text, "content": text}
            body |= {"add_special_tokens": False, "add_special": False}
            body |= {"return_token_strs": True, "with_pieces": True}
            data = self._json("/tokenize", body, cancel, root=True)
            tokens, strs = data.get("tokens"), data.get("token_strs")
            if not isinstance(tokens, list):
                return None
            if not tokens:
                return -1, ""
            head = tokens[0]
            if isinstance(head, dict) and isinstance(head.get("piece"), str):  # llama-server
                return int(head["id"]), head["piece"]
            if isinstance(head, int) and isinstance(strs, list) and strs:  # vLLM
                return head, str(strs[0]).replace("\u0120", " ").replace("\u2581", " ")
            return None
        # llama-cpp-python: ids only (with BOS where the model adds one), then the piece.
        if self._extras_prefix is None:
            empty = self._json("/extras/tokenize", {"input": ""}, cancel, root=True)
            self._extras_prefix = list(empty.get("tokens") or [])
        ids = self._json("/extras/tokenize", {"input": text}, cancel, root=True).get("tokens")
        if not isinstance(ids, list):
            return None
        prefix = self._extras_prefix
        if prefix and ids[: len(prefix)] == prefix:
            ids = ids[len(prefix) :]
        if not ids:
            return -1, ""
        piece = self._json("/extras/detokenize", {"tokens": ids[:1]}, cancel, root=True)
        return int(ids[0]), str(piece.get("text", ""))

    # -- health ----------------------------------------------------------------------------------

    def health(self) -> dict:
        """Which engine serves, and whether it answers now (GET /models, 5 s)."""
        out = {
            "kind": "upstream",
            "url": self.config.url,
            "model": self._model,
            "concurrency": self.concurrency,
            "verdict": {True: "logprobs", False: "greedy", None: "unknown"}[self._logprobs],
            "structured_output": self._schema_style,
            "guided_rewrite": {None: "unknown", False: "sampled"}.get(
                self._tokenizer, "logit_bias"
            ),
        }
        try:
            self._json("/models", None, timeout=HEALTH_TIMEOUT_S)
            out["reachable"] = True
        except SrllmError as exc:
            out |= {"reachable": False, "error": {"code": exc.code.value, "message": exc.message}}
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._conns.close()


# -- reading the answers ---------------------------------------------------------------------------


def label_probabilities_from_logprobs(tokens: list[dict]) -> dict[contract.Label, float] | None:
    """P(label) from a chat completion's logprobs (`logprobs.content`: token, logprob,
    top_logprobs), at the token where the label value starts: each label takes the best of its
    alternatives there that spell its beginning, and the three are normalised. None when the
    answer has no label value or its alternatives name none of the labels."""
    text = "".join(t.get("token") or "" for t in tokens)
    match = _LABEL_VALUE.search(text)
    if match is None:
        return None
    boundary = match.end()
    offset = 0
    for token in tokens:
        piece = token.get("token") or ""
        if offset + len(piece) > boundary:
            before = text[offset:boundary]  # the part of this token that precedes the label
            best: dict[contract.Label, float] = {}
            alternatives = token.get("top_logprobs") or []
            for alt in [*alternatives, {"token": piece, "logprob": token.get("logprob")}]:
                candidate, logprob = alt.get("token") or "", alt.get("logprob")
                if logprob is None or len(candidate) <= len(before):
                    continue
                for label in contract.Label:
                    if (before + label.value).startswith(candidate):
                        best[label] = max(best.get(label, -math.inf), float(logprob))
            if not best:
                return None
            top = max(best.values())
            weights = {
                label: math.exp(best.get(label, -math.inf) - top) for label in contract.Label
            }
            total = sum(weights.values())
            return {label: w / total for label, w in weights.items()}
        offset += len(piece)
    return None


def _greedy(content: str) -> dict[contract.Label, float]:
    try:
        label = contract.Label(json.loads(content).get("label"))
    except (ValueError, AttributeError, TypeError):
        raise SrllmError(
            Code.MODEL_OUTPUT_INVALID, f"the model's verdict is not {{'label': ...}}: {content!r}"
        ) from None
    return {x: float(x is label) for x in contract.Label}


def _message(data: object) -> str:
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            return str(error.get("message", error))[:300]
        if error is not None:
            return str(error)[:300]
    return str(data)[:300]


def _status_error(status: int, raw: bytes) -> SrllmError:
    try:
        message = _message(json.loads(raw))
    except ValueError:
        message = raw.decode("utf-8", "replace").strip()[:300] or "(empty)"
    code = Code.UPSTREAM_BAD_RESPONSE
    if status in (429, 502, 503):
        code = Code.UPSTREAM_UNAVAILABLE
    elif status == 504:
        code = Code.UPSTREAM_TIMEOUT
    return SrllmError(
        code, f"the inference engine answered {status}: {message}", upstream_status=status
    )


def config_from(
    url: str,
    model: str | None,
    key_env: str | None,
    concurrency: int | None,
    timeout_s: float | None,
    n_ctx: int,
    flag_threshold: float | None,
) -> UpstreamConfig:
    """The CLI's flags as a config; the API key is read from the environment variable named,
    so it never shows in a process list."""
    key = None
    if key_env:
        key = os.environ.get(key_env)
        if not key:
            raise SrllmError(
                Code.BAD_CONFIG, f"--upstream-key-env {key_env}: the variable is empty"
            )
    return UpstreamConfig(
        url=url,
        model=model,
        api_key=key,
        concurrency=concurrency or DEFAULT_CONCURRENCY,
        timeout_s=timeout_s or DEFAULT_TIMEOUT_S,
        n_ctx=n_ctx,
        flag_threshold=flag_threshold,
    )


# -- srllm serve --upstream ------------------------------------------------------------------------


def add_serve_flags(parser) -> None:
    group = parser.add_argument_group("upstream engine (instead of the embedded llama.cpp model)")
    group.add_argument(
        "--upstream",
        metavar="URL",
        help="an OpenAI-compatible engine's base URL, e.g. http://gpu-box:8000/v1 (vLLM, "
        "llama-server, Ollama); --model and the llama.cpp flags are then unused",
    )
    group.add_argument("--upstream-model", metavar="NAME", help="default: the first it lists")
    group.add_argument(
        "--upstream-key-env", metavar="VAR", help="environment variable holding its API key"
    )
    group.add_argument(
        "--upstream-concurrency",
        type=int,
        metavar="N",
        help=f"requests in flight at once (default {DEFAULT_CONCURRENCY})",
    )
    group.add_argument(
        "--upstream-timeout",
        type=float,
        metavar="S",
        help=f"seconds per request before a 504 (default {DEFAULT_TIMEOUT_S:.0f})",
    )
    group.add_argument(
        "--flag-threshold",
        type=float,
        metavar="P",
        help="P(biased) at which a verdict turns biased (default 0.5; a fine-tune's calibrated "
        "threshold, e.g. 0.59 for v5, is in its adapter's calibration.json)",
    )


def serve(args, settings) -> int:
    """`srllm serve --upstream URL`: the same app, guards and routes on an UpstreamEngine."""
    from pathlib import Path

    import uvicorn

    from srllm.server import security
    from srllm.server.app import create_app

    config = config_from(
        args.upstream,
        args.upstream_model,
        args.upstream_key_env,
        args.upstream_concurrency,
        args.upstream_timeout,
        settings.ctx,
        args.flag_threshold,
    )
    token = settings.token or security.load_or_create_token()
    log.info(
        "generation on the inference engine at %s, up to %d requests at once",
        config.url,
        config.concurrency,
    )
    app = create_app(
        settings,
        token,
        model_path=Path("upstream"),  # no local model file
        engine_factory=lambda _: UpstreamEngine(config),
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0
