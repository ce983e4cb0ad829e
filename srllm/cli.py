"""The `srllm` command.

    srllm serve [--host 127.0.0.1] [--port 8765] [--model PATH] [--rewriter-model PATH]
                [--scan-model PATH] [--n-gpu-layers N]
                [--threads N] [--ctx N] [--extension-origin ORIGIN]
    srllm serve --upstream URL [--upstream-model NAME] [--upstream-key-env VAR]
                [--upstream-concurrency N]   (generation on an OpenAI-compatible engine)
    srllm flag TEXT | srllm rewrite TEXT | srllm debias TEXT
                (in-process; TEXT '-' reads stdin; --json; --strictness LEVEL;
                 --allow TERM and --mute CATEGORY, repeatable)
    srllm scan FILE|- [--json] [--flagged] [--strictness LEVEL] [--allow TERM] [--mute CAT]
                [--scan-model PATH]
                (every sentence's score)
    srllm batch IN --out OUT [--task T] [--column C] [--id-column C] [--url URL] [--workers N]
                (every row of a JSONL/CSV file through a server; resumable)
    srllm token
    srllm extension install [--browser NAME] [--dir DIR] [--extension-id ID] [--dry-run]
    srllm extension uninstall [--browser NAME] [--dir DIR] [--dry-run]
    srllm extension autostart on|off|status     (opt-in: start the server at login)
    srllm convert ... | srllm build-model          (srllm.convert)
    srllm train ... | srllm bench-train | srllm merge | srllm sample   (srllm.training)
    srllm eval ... | srllm calibrate              (srllm.evaluation)
    srllm data fetch [--from DIR]

`python -m srllm` and `python -m srllm.<stage>` run this same parser. User mistakes end in one
line on stderr (`srllm: error: ...`) and exit 1; bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import sys
from pathlib import Path

from srllm import paths
from srllm.contract import CATEGORIES
from srllm.defaults import DEFAULT_CTX
from srllm.errors import Code, SrllmError

# Stage packages register their own subcommands; their cli modules import heavy libraries
# (torch, gguf) only when the command runs.
STAGE_CLIS = ("srllm.convert.cli", "srllm.training.cli", "srllm.evaluation.cli", "srllm.data")
STAGE_CLIS += ("srllm.batch",)  # srllm batch: standard library only, a client of the server


def _engine_flags(
    parser: argparse.ArgumentParser, rewrites: bool = True, scans: bool = False
) -> None:
    parser.add_argument("--model", type=Path, help="GGUF file (default: fine-tuned, else embedded)")
    if rewrites:
        parser.add_argument(
            "--rewriter-model", type=Path, metavar="GGUF",
            help="a second GGUF that writes the rewrites (default: the fine-tuned default's own "
            "rewriter when --model is not given, else the model itself)",
        )  # fmt: skip
    if scans:
        parser.add_argument(
            "--scan-model", type=Path, metavar="GGUF",
            help="a GGUF that scores scans (default: the fine-tuned default's own cut scan "
            "model when --model is not given, else the model itself)",
        )  # fmt: skip
    parser.add_argument("--n-gpu-layers", type=int, help="layers to offload (-1 all; default auto)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: llama.cpp's choice)")
    parser.add_argument("--ctx", type=int, help=f"context size in tokens (default {DEFAULT_CTX})")


def _option_flags(parser: argparse.ArgumentParser) -> None:
    """--strictness, --allow and --mute: the check's options (server.task.Options)."""
    parser.add_argument(
        "--strictness",
        choices=("conservative", "balanced", "sensitive"),
        default="conservative",
        help="how readily a sentence is called biased: conservative (default) uses the model's "
        "calibrated threshold, sensitive the scan's review threshold (0.15 lower), balanced "
        "halfway",
    )
    parser.add_argument(
        "--allow",
        action="append",
        metavar="TERM",
        help="a term you accept: never highlighted, and alone it does not make a sentence "
        "biased (repeatable; case-insensitive)",
    )
    parser.add_argument(
        "--mute",
        action="append",
        metavar="CATEGORY",
        choices=CATEGORIES,
        help=f"a category not to flag (repeatable): {', '.join(CATEGORIES)}",
    )


def _settings(args: argparse.Namespace):
    from srllm.server.settings import from_env

    return from_env().with_overrides(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        extension_origins=tuple(getattr(args, "extension_origin", None) or ()) or None,
        model=args.model,
        rewriter_model=getattr(args, "rewriter_model", None),
        scan_model=getattr(args, "scan_model", None),
        n_gpu_layers=args.n_gpu_layers,
        threads=args.threads,
        ctx=args.ctx,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from srllm.server import security
    from srllm.server.app import create_app
    from srllm.server.engine import check_gguf

    settings = _settings(args)
    if args.upstream:  # generation on a shared inference engine (server/upstream.py)
        from srllm.server import upstream

        for flag, value in (("--rewriter-model", settings.rewriter_model),
                            ("--scan-model", settings.scan_model)):  # fmt: skip
            if value is not None:
                raise SrllmError(
                    Code.BAD_CONFIG,
                    f"{flag} is for a local model; with --upstream the engine does that work",
                )

        return upstream.serve(args, settings)
    if settings.model is None:
        ensure_finetuned_default()
    model_path = paths.resolve_model(settings.model)
    check_gguf(model_path)  # refuse to start, with one line, before binding anything
    for extra in (
        paths.resolve_rewriter(settings.model, settings.rewriter_model),
        paths.resolve_scan(settings.model, settings.scan_model),
    ):
        if extra is not None:
            check_gguf(extra)
    if not security.host_allowed(settings.host):
        logging.getLogger("srllm").warning(
            "binding %s: the Host check still only accepts loopback names", settings.host
        )
    token = settings.token or security.load_or_create_token()
    app = create_app(settings, token, model_path=model_path)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def ensure_finetuned_default() -> None:
    """The committed adapter reaches the user without an extra step: when the fine-tuned default
    is missing or older than the adapter, merge it into the embedded model now (gguf + numpy,
    a few seconds). Without those, or the adapter, the untuned model serves and says so."""
    log = logging.getLogger("srllm")
    try:
        from srllm.convert.build import DEFAULT_ADAPTER, build_defaults
        from srllm.convert.config import DEFAULT_MERGE_QUANT
    except ImportError as exc:
        log.warning("cannot build the fine-tuned default (%s): the untuned model serves", exc)
        return
    if not (DEFAULT_ADAPTER / "adapter_config.json").is_file() or paths.embedded_model() is None:
        return
    build_defaults(DEFAULT_MERGE_QUANT, stale_only=True)


def _read_text(value: str) -> str:
    text = sys.stdin.read() if value == "-" else value
    if not text.strip():
        raise SrllmError(Code.BAD_INPUT, "no text given (pass TEXT, or '-' to read standard input)")
    return text


def cmd_task(args: argparse.Namespace) -> int:
    from srllm.server import language, task
    from srllm.server.engine import Engine

    settings = _settings(args)
    text = _read_text(args.text)
    options = task.Options.build(args.strictness, args.allow, args.mute, code=Code.BAD_INPUT)
    language.check(text)  # as the HTTP routes: the model reads English only
    if settings.model is None:
        ensure_finetuned_default()
    if len(text) > settings.max_text_chars:
        raise SrllmError(
            Code.TEXT_TOO_LONG,
            f"text is {len(text)} characters; the limit is {settings.max_text_chars}",
        )
    engine = Engine(settings.engine_config(paths.resolve_model(settings.model)))
    try:
        engine.check_length(text)
        result = task.collect(task.Task(engine).run(text, args.command, options=options))
    finally:
        engine.close()
    if args.json:  # the same JSON as the HTTP route of the same name
        print(json.dumps(result, ensure_ascii=False))
    else:
        _print_human(args.command, result)
    return 0


def _print_human(command: str, result: dict) -> None:
    flag = result if command == "flag" else result.get("flag")
    if flag:
        cats = ", ".join(flag["categories"]) or "-"
        words = ", ".join(f"{s['text']} ({s['source']})" for s in flag["spans"]) or "-"
        print(f"label:       {flag['label']} (P(biased) {flag['p_biased']})")
        print(f"categories:  {cats}")
        print(f"words:       {words}")
        print(f"explanation: {flag['explanation']}")
    if command != "flag" and result.get("rewrite") is not None:
        print(f"rewrite:     {result['rewrite']}" if flag else result["rewrite"])
        if result.get("still_biased"):
            print(_REVIEW if result.get("changed") else _NOT_FOUND, file=sys.stderr)


# What a rewrite srllm would still flag is (server.task SentenceResult.still_biased): not
# presented as a neutral text.
_REVIEW = "note: srllm still finds bias in this rewrite; review it before you use it"
_NOT_FOUND = "note: no neutral rewrite was found; the highlighted words show what to change"


def cmd_scan(args: argparse.Namespace) -> int:
    from srllm.server import scan, task
    from srllm.server.engine import Engine

    settings = _settings(args)
    options = task.Options.build(args.strictness, args.allow, args.mute, code=Code.BAD_INPUT)
    text = _read_document(args.file)
    if len(text) > settings.max_scan_chars:
        raise SrllmError(
            Code.TEXT_TOO_LONG,
            f"text is {len(text)} characters; the scan limit is {settings.max_scan_chars} "
            "(SRLLM_MAX_SCAN_CHARS)",
        )
    if settings.model is None:
        ensure_finetuned_default()
    config = settings.engine_config(paths.resolve_model(settings.model))
    engine = Engine(dataclasses.replace(config, rewriter_path=None))  # a scan only flags
    try:
        work = scan.plan([scan.Item(text)], False, engine)
        scorer = engine.scan_engine()
        threshold = options.threshold(scorer.info.flag_threshold)
        scanner = scan.Scanner(scorer)
        result = scan.collect(scanner.run(work, None, threshold, options, task.Task(engine)))
    finally:
        engine.close()
    if args.json:  # the same JSON as POST /v1/scan with {"text": ...}
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(scan_table(text, result, flagged_only=args.flagged))
    return 0


def _read_document(value: str) -> str:
    """A file's text (UTF-8), or standard input for '-'."""
    if value == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(value).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SrllmError(Code.BAD_INPUT, f"file not found: {value}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SrllmError(Code.BAD_INPUT, f"cannot read {value} as UTF-8 text: {exc}") from None
    if not text.strip():
        raise SrllmError(
            Code.BAD_INPUT, f"nothing to scan in {'standard input' if value == '-' else value}"
        )
    return text


def scan_table(text: str, result: dict, flagged_only: bool = False, width: int = 72) -> str:
    """The scan as a table: sentence number, code point offsets, score, label, the sentence
    (on one line, shortened), then the counts."""
    rows = [("#", "chars", "score", "label", "sentence")]
    for s in result["sentences"]:
        if flagged_only and s["label"] == "neutral":
            continue
        sentence = " ".join(text[s["start"] : s["end"]].split())
        if len(sentence) > width:
            sentence = sentence[: width - 1] + "…"
        span = f"{s['start']}-{s['end']}"
        rows.append((str(s["index"] + 1), span, f"{s['score']:.3f}", s["label"], sentence))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    counts, limits = result["counts"], result["thresholds"]
    lines.append(
        f"\n{len(result['sentences'])} sentences: {counts['biased']} biased, "
        f"{counts['review']} review, {counts['neutral']} neutral (biased at score >= "
        f"{limits['biased']} or by a text rule, review >= {limits['review']}; "
        f"model {result['model']})"
    )
    return "\n".join(line.rstrip() for line in lines)


def cmd_token(args: argparse.Namespace) -> int:
    from srllm.server import security

    print(security.load_or_create_token())
    return 0


def cmd_autostart(args: argparse.Namespace) -> int:
    from srllm import autostart

    run = {"on": autostart.enable, "off": autostart.disable, "status": autostart.status}
    print(run[args.state]())
    return 0


def cmd_extension(args: argparse.Namespace) -> int:
    from srllm import native_install

    run = native_install.install if args.action == "install" else native_install.uninstall
    actions = run(
        browsers=args.browser or None,
        target_dir=args.dir,
        extension_ids=tuple(args.extension_id or ()),
        dry_run=args.dry_run,
    )
    for line in actions:
        print(line)
    return 0


def _register_extension(sub) -> None:
    from srllm.native_install import BROWSER_KEYS

    extension = sub.add_parser(
        "extension",
        help="let the browser extension start and pair with the server (native messaging host)",
    )
    actions = extension.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, what in (
        ("install", "register the native messaging host for the browsers found"),
        ("uninstall", "remove what install wrote"),
    ):
        cmd = actions.add_parser(action, help=what)
        cmd.add_argument(
            "--browser",
            action="append",
            choices=BROWSER_KEYS,
            help="only this browser (repeatable; default: every one found)",
        )
        cmd.add_argument(
            "--dir",
            type=Path,
            help="write the host manifest into this NativeMessagingHosts folder instead "
            "(a browser started with --user-data-dir; needs one --browser)",
        )
        if action == "install":
            cmd.add_argument(
                "--extension-id",
                action="append",
                metavar="ID",
                help="also allow this extension ID (repeatable; e.g. a store-published copy)",
            )
        cmd.add_argument("--dry-run", action="store_true", help="print what would change")
        cmd.set_defaults(func=cmd_extension, extension_id=None)
    autostart = actions.add_parser(
        "autostart", help="start the server at login (off unless turned on here)"
    )
    autostart.add_argument(
        "state",
        choices=("on", "off", "status"),
        help="on: add the login entry; off: remove it; status: say whether it is there",
    )
    autostart.set_defaults(func=cmd_autostart)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srllm", description="Flag biased text and rewrite it neutrally, on this machine."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the local HTTP server")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8765)")
    serve.add_argument(
        "--extension-origin",
        action="append",
        metavar="ORIGIN",
        help="accept only this extension origin (repeatable; default: any chrome-extension:// "
        "or moz-extension:// origin); the native host passes the paired extension's",
    )
    _engine_flags(serve, scans=True)
    from srllm.server.upstream import add_serve_flags  # standard library only

    add_serve_flags(serve)
    serve.set_defaults(func=cmd_serve)

    for name, what in (
        ("flag", "say whether TEXT is biased, which words and why"),
        ("rewrite", "rewrite TEXT without bias"),
        ("debias", "flag TEXT, and rewrite it when biased"),
    ):
        task = sub.add_parser(name, help=what)
        task.add_argument("text", metavar="TEXT", help="the text, or '-' for standard input")
        task.add_argument("--json", action="store_true", help="print JSON")
        _option_flags(task)
        _engine_flags(task)
        task.set_defaults(func=cmd_task)

    scan = sub.add_parser(
        "scan", help="score every sentence of a document for bias (one forward pass each)"
    )
    scan.add_argument("file", metavar="FILE", help="a UTF-8 text file, or '-' for standard input")
    scan.add_argument("--json", action="store_true", help="print the JSON POST /v1/scan answers")
    scan.add_argument(
        "--flagged", action="store_true", help="list only the sentences labelled biased or review"
    )
    _option_flags(scan)
    _engine_flags(scan, rewrites=False, scans=True)
    scan.set_defaults(func=cmd_scan)

    token = sub.add_parser("token", help="print the API token (created on first use)")
    token.set_defaults(func=cmd_token)

    _register_extension(sub)

    for module_name in STAGE_CLIS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # a broken stage must fail loudly, not vanish
                raise
            continue
        module.register(sub)
    return parser


# The one map from errors to exit codes, for every subcommand: a user's mistake (an SrllmError)
# is one line on stderr; anything else is a bug and keeps its traceback.
EXIT_USER_ERROR = 1
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="srllm: %(message)s", stream=sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"srllm: interrupted{getattr(args, 'on_interrupt', '')}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SrllmError as exc:
        print(f"srllm: error: {exc.message}", file=sys.stderr)
        return EXIT_USER_ERROR
