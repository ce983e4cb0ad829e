"""`srllm batch` as a user runs it: a subprocess against the real server on the real model,
interrupted and resumed."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROWS = [
    ("r1", "Old people are useless with computers."),
    ("r2", "The meeting starts at noon."),
    ("r3", "Women are too emotional to lead teams."),
    ("r4", "The library opens at nine on weekdays."),
    ("r5", ""),  # refused by the server (422), recorded
    ("r6", "Our team shipped the release on time."),
]


def batch_cmd(src: Path, out: Path, url: str, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "srllm", "batch", str(src), "--out", str(out), "--url", url]
    return [*cmd, "--id-column", "id", "--task", "debias", *extra]


def test_batch_over_a_csv_is_interrupted_and_resumed(server, tmp_path):
    src = tmp_path / "corpus.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        writer.writerows(ROWS)
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "SRLLM_TOKEN": server.token}
    # Interrupt after the first row is written (Ctrl-C): what was written stays whole.
    process = subprocess.Popen(
        batch_cmd(src, out, server.url, "--workers", "1"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and out.read_text(encoding="utf-8").count("\n") >= 1:
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    _, err = process.communicate(timeout=120)
    first = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert 1 <= len(first) <= len(ROWS)
    if process.returncode == 130:
        assert "run again to resume" in err
    # The same command again finishes the rest, with 2 workers.
    done = subprocess.run(
        batch_cmd(src, out, server.url, "--workers", "2"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert f"{len(first)} already in" in done.stdout
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in records) == [r for r, _ in ROWS]
    by_id = {r["id"]: r for r in records}
    assert by_id["r5"]["error"]["code"] == "invalid_request"
    for row_id, text in ROWS[:4] + ROWS[5:]:
        result = by_id[row_id]["result"]
        assert by_id[row_id]["text"] == text
        assert result["flag"]["label"] in ("neutral", "slightly_biased", "highly_biased")
        assert (result["rewrite"] is None) == (not result["flag"]["biased"])
    assert "labels:" in done.stdout and "invalid_request 1" in done.stdout
