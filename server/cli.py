"""The `srllm` command.

    srllm serve [--host 127.0.0.1] [--port 8765] [--model PATH] [--n-gpu-layers N]
                [--threads N] [--ctx N]
    srllm flag TEXT | srllm rewrite TEXT | srllm debias TEXT
                (in-process; TEXT '-' reads stdin; --json)
    srllm token
    srllm convert ... | srllm build-model | srllm train ... | srllm eval ...   (other stages)

User mistakes end in one line on stderr (`srllm: error: ...`) and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path

from server.errors import SrllmError

# Stage packages register their own subcommands; their cli modules import heavy libraries
# (torch, gguf) only when the command runs.
STAGE_CLIS = ("convert.cli", "training.cli", "evaluation.cli")


def _engine_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, help="GGUF file (default: fine-tuned, else embedded)")
    parser.add_argument("--n-gpu-layers", type=int, help="layers to offload (-1 all; default auto)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: llama.cpp's choice)")
    parser.add_argument("--ctx", type=int, help="context size in tokens (default 4096)")


def _settings(args: argparse.Namespace):
    from server.settings import from_env

    return from_env().with_overrides(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        model=args.model,
        n_gpu_layers=args.n_gpu_layers,
        threads=args.threads,
        ctx=args.ctx,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server import paths, security
    from server.app import create_app
    from server.engine import check_gguf

    settings = _settings(args)
    model_path = paths.resolve_model(settings.model)
    check_gguf(model_path)  # refuse to start, with one line, before binding anything
    if not security.host_allowed(settings.host):
        logging.getLogger("srllm").warning(
            "binding %s: the Host check still only accepts loopback names", settings.host
        )
    token = settings.token or security.load_or_create_token()
    app = create_app(settings, token, model_path=model_path)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def _read_text(value: str) -> str:
    text = sys.stdin.read() if value == "-" else value
    if not text.strip():
        raise SrllmError("no text given (pass TEXT, or '-' to read standard input)")
    return text


def cmd_task(args: argparse.Namespace) -> int:
    from server import paths
    from server.engine import Engine
    from server.payloads import flag_payload

    settings = _settings(args)
    text = _read_text(args.text)
    if len(text) > settings.max_text_chars:
        raise SrllmError(f"text is {len(text)} characters; the limit is {settings.max_text_chars}")
    engine = Engine(settings.engine_config(paths.resolve_model(settings.model)))
    try:
        engine.check_length(text)
        model = engine.info.name
        result: dict = {}
        if args.command in ("flag", "debias"):
            result["flag"] = flag_payload(text, engine.flag(text), model)
        if args.command == "rewrite" or (args.command == "debias" and result["flag"]["biased"]):
            result["rewrite"] = engine.rewrite(text)
        result["model"] = model
    finally:
        engine.close()
    if args.json:
        if args.command == "flag":  # the flag itself is the answer, as from POST /v1/flag
            result = result["flag"]
        print(json.dumps(result, ensure_ascii=False))
    else:
        _print_human(result)
    return 0


def _print_human(result: dict) -> None:
    flag = result.get("flag")
    if flag:
        cats = ", ".join(flag["categories"]) or "-"
        words = ", ".join(s["text"] for s in flag["spans"]) or "-"
        print(f"label:       {flag['label']}")
        print(f"categories:  {cats}")
        print(f"words:       {words}")
        print(f"explanation: {flag['explanation']}")
    if "rewrite" in result:
        print(f"rewrite:     {result['rewrite']}" if flag else result["rewrite"])


def cmd_token(args: argparse.Namespace) -> int:
    from server import security

    print(security.load_or_create_token())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srllm", description="Flag biased text and rewrite it neutrally, on this machine."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the local HTTP server")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8765)")
    _engine_flags(serve)
    serve.set_defaults(func=cmd_serve)

    for name, what in (
        ("flag", "say whether TEXT is biased, which words and why"),
        ("rewrite", "rewrite TEXT without bias"),
        ("debias", "flag TEXT, and rewrite it when biased"),
    ):
        task = sub.add_parser(name, help=what)
        task.add_argument("text", metavar="TEXT", help="the text, or '-' for standard input")
        task.add_argument("--json", action="store_true", help="print JSON")
        _engine_flags(task)
        task.set_defaults(func=cmd_task)

    token = sub.add_parser("token", help="print the API token (created on first use)")
    token.set_defaults(func=cmd_token)

    for module_name in STAGE_CLIS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # a broken stage must fail loudly, not vanish
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="srllm: %(message)s", stream=sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("srllm: interrupted", file=sys.stderr)
        return 130
    except (SrllmError, FileNotFoundError, ValueError, OSError) as exc:
        message = exc.message if isinstance(exc, SrllmError) else str(exc)
        print(f"srllm: error: {message}", file=sys.stderr)
        return 1
