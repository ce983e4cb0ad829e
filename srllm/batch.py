"""`srllm batch IN --out OUT`: every row of a JSONL or CSV corpus through an srllm server.

    srllm batch reviews.csv --out flags.jsonl --column body --id-column review_id --workers 4

Each row's text goes to the server's /v1/flag, /v1/rewrite or /v1/debias (`--task`), local
(`srllm serve`) or remote (`--url`), from N worker threads. OUT is JSON lines, one per row:
{"id", "task", "text", "result": <the route's JSON answer>} or, when the server refused the row,
{"id", "task", "text", "error": {"code", "message", "status", ...}}: a bad row never ends the
run. Every line is appended and flushed as its row finishes, so a crash loses only the rows in
flight, and a second run over the same OUT skips the rows already there (resume).

Standard library only (http.client, threads): a laptop install has no HTTP client library.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import os
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from srllm.errors import Code, SrllmError
from srllm.http_conns import ThreadConnections

TASKS = ("flag", "rewrite", "debias")
FORMATS = ("jsonl", "csv", "tsv")
DEFAULT_URL = "http://127.0.0.1:{port}"
DEFAULT_TIMEOUT_S = 300.0
# A row whose connection fails is tried again this many times (the server may be restarting);
# after as many consecutive unreachable rows as 2 x workers the run stops: resume picks them up.
CONNECT_RETRIES = 3
RETRY_BACKOFF_S = 0.5


# -- input ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    number: int  # 1-based data row (header and blank lines not counted)
    id: str | int
    text: Any  # usually a string; anything else is sent as is and refused by the server
    missing: bool = False  # the row has no such column: recorded as an error, never sent


def input_format(path: Path, given: str | None) -> str:
    if given:
        return given
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    raise SrllmError(
        Code.BAD_INPUT,
        f"cannot tell the format of {path} from its name: pass --format jsonl, csv or tsv",
    )


def read_rows(
    path: Path, column: str = "text", id_column: str | None = None, fmt: str | None = None
) -> list[Row]:
    """Every row of the input, read before any request: a malformed file, a missing column or a
    duplicate id fails at once in one line, not hours into a run."""
    fmt = input_format(path, fmt)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            records = list(_jsonl_records(fh, path) if fmt == "jsonl" else _csv_records(fh, fmt))
    except FileNotFoundError:
        raise SrllmError(Code.BAD_INPUT, f"input file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise SrllmError(Code.BAD_INPUT, f"cannot read {path} as UTF-8: {exc}") from None
    except csv.Error as exc:
        raise SrllmError(Code.BAD_INPUT, f"{path} is not valid {fmt.upper()}: {exc}") from None
    except OSError as exc:
        raise SrllmError(Code.BAD_INPUT, f"cannot read {path}: {exc.strerror or exc}") from None
    if not records:
        raise SrllmError(Code.BAD_INPUT, f"no rows in {path}")
    first = records[0][1]
    for name, what in ((column, "--column"), (id_column, "--id-column")):
        if name is not None and name not in first:
            keys = ", ".join(map(str, list(first)[:20])) or "none"
            raise SrllmError(
                Code.BAD_INPUT,
                f"no column {name!r} ({what}) in {path}; its first row has: {keys}",
            )
    rows, seen = [], set()
    for number, (line, record) in enumerate(records, start=1):
        if id_column is None:
            row_id: str | int = number
        else:
            row_id = record.get(id_column)
            if isinstance(row_id, bool) or not isinstance(row_id, str | int) or row_id == "":
                raise SrllmError(
                    Code.BAD_INPUT,
                    f"{path}, line {line}: the id ({id_column!r}) must be a non-empty string or "
                    "an integer",
                )
        key = id_key(row_id)
        if key in seen:
            raise SrllmError(
                Code.BAD_INPUT,
                f"{path}, line {line}: id {row_id!r} appears twice (ids must be unique to resume)",
            )
        seen.add(key)
        rows.append(Row(number, row_id, record.get(column), missing=column not in record))
    return rows


def _jsonl_records(fh: TextIO, path: Path) -> Iterator[tuple[int, dict]]:
    for line, raw in enumerate(fh, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise SrllmError(
                Code.BAD_INPUT, f"{path}, line {line}: not valid JSON ({exc})"
            ) from None
        if not isinstance(record, dict):
            raise SrllmError(Code.BAD_INPUT, f"{path}, line {line}: not a JSON object")
        yield line, record


def _csv_records(fh: TextIO, fmt: str) -> Iterator[tuple[int, dict]]:
    reader = csv.DictReader(fh, delimiter="\t" if fmt == "tsv" else ",")
    for record in reader:
        # A short row leaves its last columns out (None): as absent as a missing column.
        yield reader.line_num, {k: v for k, v in record.items() if k is not None and v is not None}


def id_key(row_id: Any) -> str:
    """Ids compare by their JSON form: 7 and "7" are different rows."""
    return json.dumps(row_id, ensure_ascii=False)


# -- output: what is already done ----------------------------------------------------------------


def load_done(out: Path, task: str) -> dict[str, dict]:
    """The rows OUT already holds, by id key (a later line for an id wins). A last line cut off
    by a crash is dropped from the file, so the next line appended starts on a line of its own."""
    if not out.exists():
        return {}
    try:
        data = out.read_bytes()
    except OSError as exc:
        raise SrllmError(Code.BAD_INPUT, f"cannot read {out}: {exc.strerror or exc}") from None
    complete = data.rfind(b"\n") + 1
    if complete < len(data):
        with out.open("r+b") as fh:
            fh.truncate(complete)
    done: dict[str, dict] = {}
    for line, raw in enumerate(data[:complete].splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            raise SrllmError(
                Code.BAD_INPUT, f"{out}, line {line}: not a JSON line srllm batch wrote"
            ) from None
        if not isinstance(record, dict) or "id" not in record:
            raise SrllmError(Code.BAD_INPUT, f"{out}, line {line}: not a row srllm batch wrote")
        if record.get("task", task) != task:
            raise SrllmError(
                Code.BAD_INPUT,
                f"{out} holds {record.get('task')} rows; this run is --task {task} "
                "(use another --out)",
            )
        done[id_key(record["id"])] = record
    return done


# -- the server ----------------------------------------------------------------------------------


class ServerRefused(Exception):
    """The server turned down the whole run (token, Host): stop, do not record every row."""


class Unreachable(Exception):
    pass


class Client:
    """One keep-alive connection per worker thread to an srllm server."""

    def __init__(self, url: str, token: str, timeout: float = DEFAULT_TIMEOUT_S):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SrllmError(Code.BAD_INPUT, f"--url must be http(s)://HOST[:PORT], got {url!r}")
        self.url = url.rstrip("/")
        self._conns = ThreadConnections(url, timeout)  # its path: a server behind a proxy path
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.timeout = timeout
        self._lock = threading.Lock()
        self._closed = False  # after close(abort=True) no worker connects again (Ctrl-C)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        """(status, parsed JSON or None). Connection failures raise Unreachable; a timeout
        raises TimeoutError."""
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        for attempt in range(2):  # a keep-alive connection the server closed: reconnect once
            if self._closed:
                raise Unreachable("the batch was stopped")
            conn = self._conns.get()
            try:
                conn.request(method, self._conns.path + path, body=payload, headers=self._headers)
                response = conn.getresponse()
                raw = response.read()
            except TimeoutError:
                self._conns.drop()
                raise
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._conns.drop()
                if attempt == 0:
                    continue
                raise Unreachable(f"{self.url} closed the connection") from None
            except (OSError, http.client.HTTPException) as exc:
                self._conns.drop()
                raise Unreachable(f"cannot reach {self.url}: {exc}") from None
            if response.getheader("connection", "").lower() == "close":
                self._conns.drop()
            try:
                return response.status, json.loads(raw)
            except ValueError:
                return response.status, None
        raise AssertionError("unreachable")

    @property
    def stopped(self) -> bool:
        return self._closed

    def close(self, abort: bool = False) -> None:
        """Close every worker's connection. With `abort` (Ctrl-C) their blocked reads end at once
        and no worker connects again."""
        with self._lock:
            self._closed = self._closed or abort
        self._conns.close(abort=True)


def check_server(client: Client) -> str:
    """Before any row: the server answers and takes the token. Returns the model's name."""
    try:
        status, body = client.request("GET", "/v1/models")
    except Unreachable as exc:
        raise SrllmError(
            Code.UPSTREAM_UNAVAILABLE, f"{exc} (is `srllm serve` running there?)"
        ) from None
    except TimeoutError:
        raise SrllmError(
            Code.UPSTREAM_TIMEOUT, f"{client.url} did not answer in {client.timeout:.0f} s"
        ) from None
    if status == 401:
        raise SrllmError(
            Code.UNAUTHORIZED,
            f"{client.url} refused the token: pass the one `srllm token` prints on the server's "
            "machine (--token or SRLLM_TOKEN)",
        )
    if status != 200 or not isinstance(body, dict):
        message = _error_of(status, body)["message"]
        hint = ""
        if status == 403:
            hint = " (a remote server must list its name in SRLLM_EXTRA_HOSTS)"
        raise SrllmError(
            Code.UPSTREAM_BAD_RESPONSE, f"{client.url} answered {status}: {message}{hint}"
        )
    try:
        return str(body["data"][0]["id"])
    except (KeyError, IndexError, TypeError):
        raise SrllmError(
            Code.UPSTREAM_BAD_RESPONSE, f"{client.url} is not an srllm server (GET /v1/models)"
        ) from None


def _error_of(status: int, body: Any) -> dict:
    """The server's own error object, with the HTTP status beside its code."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and "code" in error:
        return {**error, "status": status}
    return {
        "code": Code.UPSTREAM_BAD_RESPONSE.value,
        "message": f"the server answered {status} without a JSON error",
        "status": status,
    }


def process_row(client: Client, task: str, row: Row) -> dict:
    """One output line for a row: its result, or the error the server gave it."""
    out: dict[str, Any] = {"id": row.id, "task": task, "text": row.text}
    if row.missing:
        out["error"] = {"code": Code.BAD_INPUT.value, "message": "the row has no text column"}
        return out
    for attempt in range(CONNECT_RETRIES + 1):
        try:
            status, body = client.request("POST", f"/v1/{task}", {"text": row.text})
            break
        except Unreachable:
            if attempt == CONNECT_RETRIES or client.stopped:
                raise
            time.sleep(RETRY_BACKOFF_S * 2**attempt)
        except TimeoutError:
            out["error"] = {
                "code": Code.UPSTREAM_TIMEOUT.value,
                "message": f"no answer in {client.timeout:.0f} s (--timeout)",
            }
            return out
    if status in (401, 403):
        raise ServerRefused(_error_of(status, body)["message"])
    if status == 200 and isinstance(body, dict):
        out["result"] = body
    else:
        out["error"] = _error_of(status, body)
    return out


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Progress:
    """One status line on stderr: rows done, rows/s of this run, ETA, errors. Redrawn in place
    on a terminal; elsewhere (a log file) a line every `every_s` seconds."""

    total: int
    skipped: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    every_s: float | None = None
    done: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)
    _shown: float = 0.0

    def __post_init__(self) -> None:
        if self.every_s is None:
            self.every_s = 0.2 if self.stream.isatty() else 30.0

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        finished = self.skipped + self.done
        rate = self.rate()
        left = self.total - finished
        eta = _duration(left / rate) if rate > 0 else "?"
        share = 100.0 * finished / self.total if self.total else 100.0
        width = 24
        filled = int(width * finished / self.total) if self.total else width
        bar = "#" * filled + "." * (width - filled)
        return (
            f"[{bar}] {finished}/{self.total} rows {share:5.1f}%  {rate:.2f} rows/s  "
            f"ETA {eta}  errors {self.errors}"
        )

    def update(self, error: bool, force: bool = False) -> None:
        self.done += 1
        self.errors += error
        self.show(force)

    def show(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._shown < (self.every_s or 0):
            return
        self._shown = now
        if self.stream.isatty():
            self.stream.write("\r" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def finish(self) -> None:
        self.show(force=True)
        if self.stream.isatty():
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


@dataclass
class Outcome:
    task: str
    rows: int  # in the input
    skipped: int  # already in OUT
    processed: int  # written by this run
    left: int  # not done (the run stopped early)
    seconds: float
    records: list[dict]  # the final line of every input row OUT holds, in input order
    model: str = ""

    def summary(self) -> dict:
        return summarise(self.records, self.task) | {
            "rows": self.rows,
            "skipped": self.skipped,
            "processed": self.processed,
            "left": self.left,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.processed / self.seconds, 3) if self.seconds else None,
        }


def summarise(records: Iterable[dict], task: str) -> dict:
    """Counts over OUT's rows: labels and categories (flag, debias), rewritten texts and those
    still flagged (rewrite, debias) and errors by code."""
    labels: Counter = Counter()
    categories: Counter = Counter()
    errors: Counter = Counter()
    changed = review = done = 0
    for record in records:
        if "error" in record:
            errors[str(record["error"].get("code"))] += 1
            continue
        done += 1
        result = record.get("result") or {}
        flag = result if task == "flag" else result.get("flag")
        if isinstance(flag, dict):
            labels[flag.get("label")] += 1
            categories.update(flag.get("categories") or [])
        if task != "flag":
            changed += bool(result.get("changed"))
            review += bool(result.get("still_biased"))
    out: dict[str, Any] = {"ok": done, "errors": dict(errors.most_common())}
    if task != "rewrite":
        out["labels"] = dict(labels.most_common())
        out["categories"] = dict(categories.most_common())
    if task != "flag":
        out["changed"] = changed
        out["still_biased"] = review  # rows whose rewrite srllm still flags: to review
    return out


def format_summary(summary: dict, out: Path) -> str:
    s = summary
    rate = f", {s['rows_per_s']:.2f} rows/s" if s.get("rows_per_s") else ""
    lines = [
        f"{s['rows']} rows: {s['processed']} done now in {_duration(s['seconds'])}{rate}, "
        f"{s['skipped']} already in {out}"
        + (f", {s['left']} left (run again to resume)" if s["left"] else ""),
        f"ok: {s['ok']}  errors: {sum(s['errors'].values())}"
        + "".join(f"  {code} {n}" for code, n in s["errors"].items()),
    ]
    if "labels" in s:
        lines.append("labels: " + (", ".join(f"{k} {n}" for k, n in s["labels"].items()) or "-"))
        cats = ", ".join(f"{k} {n}" for k, n in s["categories"].items())
        lines.append("categories: " + (cats or "-"))
    if "changed" in s:
        review = s.get("still_biased", 0)
        note = (
            f" ({review} still flagged: their rows say still_biased, review them)" if review else ""
        )
        lines.append(f"rewritten: {s['changed']}{note}")
    return "\n".join(lines)


def run_batch(
    rows: list[Row],
    out: Path,
    client: Client,
    task: str = "flag",
    workers: int = 4,
    progress: Progress | None = None,
    on_row: Callable[[dict], None] | None = None,
) -> Outcome:
    """Send every row not yet in OUT, `workers` at a time, appending each line as it comes back
    (in completion order). Rows in flight when the run stops are not written: resume redoes
    them."""
    if task not in TASKS:
        raise SrllmError(Code.BAD_INPUT, f"--task must be one of {', '.join(TASKS)}")
    if workers < 1:
        raise SrllmError(Code.BAD_INPUT, f"--workers must be at least 1, got {workers}")
    done = load_done(out, task)
    todo = [r for r in rows if id_key(r.id) not in done]
    skipped = len(rows) - len(todo)
    progress = progress or Progress(len(rows), skipped, stream=io.StringIO())
    started = time.monotonic()
    processed = 0
    unreachable_streak = 0
    stop: SrllmError | None = None
    pending = iter(todo)
    in_flight: dict[Future, Row] = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="srllm-batch")
    try:
        with out.open("a", encoding="utf-8") as fh:
            while True:
                # At most 2 x workers rows queued: a million-row corpus never sits in the pool.
                while stop is None and len(in_flight) < 2 * workers:
                    row = next(pending, None)
                    if row is None:
                        break
                    in_flight[pool.submit(process_row, client, task, row)] = row
                if not in_flight:
                    break
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    row = in_flight.pop(future)
                    try:
                        record = future.result()
                    except Unreachable as exc:
                        unreachable_streak += 1
                        if stop is None and unreachable_streak >= 2 * workers:
                            stop = SrllmError(
                                Code.UPSTREAM_UNAVAILABLE,
                                f"{exc}; stopped after {processed} rows this run "
                                "(run again to resume)",
                            )
                        continue
                    except ServerRefused as exc:
                        if stop is None:
                            stop = SrllmError(Code.UNAUTHORIZED, f"the server refused: {exc}")
                        continue
                    unreachable_streak = 0
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                    fh.flush()  # a crash loses only the rows in flight
                    processed += 1
                    done[id_key(row.id)] = record
                    progress.update("error" in record)
                    if on_row is not None:
                        on_row(record)
    except BaseException:
        client.close(abort=True)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    client.close()  # the workers' connections outlive their threads otherwise
    progress.finish()
    records = [done[id_key(r.id)] for r in rows if id_key(r.id) in done]
    outcome = Outcome(
        task, len(rows), skipped, processed, len(rows) - len(records),
        time.monotonic() - started, records,
    )  # fmt: skip
    if stop is not None:
        stop.details["outcome"] = outcome
        raise stop
    return outcome


# -- the command line ----------------------------------------------------------------------------


def resolve_token(given: str | None) -> str:
    """--token > SRLLM_TOKEN > the token `srllm token` stored on this machine (read, never
    created here: a new one would not be the server's)."""
    if given:
        return given
    if os.environ.get("SRLLM_TOKEN"):
        return os.environ["SRLLM_TOKEN"]
    from srllm import paths

    path = paths.token_file()
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    raise SrllmError(
        Code.BAD_CONFIG,
        "no token: pass --token or set SRLLM_TOKEN to what `srllm token` prints on the server's "
        "machine (or start `srllm serve` here once)",
    )


def default_url() -> str:
    port = os.environ.get("SRLLM_PORT") or "8765"
    return DEFAULT_URL.format(port=port)


def cmd_batch(args: argparse.Namespace) -> int:
    rows = read_rows(args.input, args.column, args.id_column, args.format)
    client = Client(args.url or default_url(), resolve_token(args.token), args.timeout)
    try:
        return _run_command(args, rows, client)
    finally:
        client.close()


def _run_command(args: argparse.Namespace, rows: list[Row], client: Client) -> int:
    model = check_server(client)
    done = load_done(args.out, args.task)
    left = sum(id_key(r.id) not in done for r in rows)
    print(
        f"srllm: batch {args.task} of {len(rows)} rows ({len(rows) - left} already in "
        f"{args.out}) through {client.url} ({model}), {args.workers} workers",
        file=sys.stderr,
    )
    progress = Progress(len(rows), len(rows) - left)
    args.on_interrupt = f" (rows written so far are in {args.out}; run again to resume)"
    try:
        outcome = run_batch(rows, args.out, client, args.task, args.workers, progress)
    except SrllmError as exc:
        outcome = exc.details.pop("outcome", None)
        if outcome is not None:
            print(format_summary(outcome.summary(), args.out))
        raise
    outcome.model = model
    summary = outcome.summary()
    print(format_summary(summary, args.out))
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary | {"model": model}, indent=2) + "\n")
    return 0


def register(sub) -> None:
    batch = sub.add_parser(
        "batch",
        help="flag, rewrite or debias every row of a JSONL or CSV file through an srllm server",
    )
    batch.add_argument("input", type=Path, metavar="IN", help="a .jsonl, .csv or .tsv file")
    batch.add_argument("--out", type=Path, required=True, help="JSON lines, appended (resumable)")
    batch.add_argument("--task", choices=TASKS, default="flag", help="the route (default flag)")
    batch.add_argument("--column", default="text", help="the text's column or key (default text)")
    batch.add_argument("--id-column", help="a unique id per row (default: the row number)")
    batch.add_argument("--format", choices=FORMATS, help="default: from IN's extension")
    batch.add_argument("--url", help="the srllm server (default http://127.0.0.1:SRLLM_PORT)")
    batch.add_argument("--token", help="its token (default SRLLM_TOKEN, else `srllm token`'s)")
    batch.add_argument("--workers", type=int, default=4, help="concurrent requests (default 4)")
    batch.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per row (default 300)"
    )
    batch.add_argument("--summary-json", type=Path, help="also write the summary here")
    batch.set_defaults(func=cmd_batch)
