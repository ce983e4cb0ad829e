"""16 concurrent clients for 60 s: every request answered, none lost, memory flat."""

import csv
import threading
import time

import httpx
import psutil
import pytest

from srllm.paths import data_root

DATA = data_root() / "srllm" / "infer_50.csv"
CLIENTS = 16
SECONDS = 60


def texts() -> list[str]:
    with DATA.open(newline="", encoding="utf-8") as fh:
        return [row["debiased_text"] for row in csv.DictReader(fh)]


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_file(), reason="SR-LLM data not present")
def test_sixteen_clients_for_a_minute(server):
    corpus = texts()
    results: list[tuple[int, str]] = []
    errors: list[str] = []
    lock = threading.Lock()
    routes = ["/v1/flag", "/v1/debias", "/v1/rewrite"]
    process = psutil.Process(server.process.pid)
    stop_at = time.monotonic() + SECONDS
    rss: list[int] = []

    def client_loop(n: int) -> None:
        i = n
        with server.client() as c:
            while time.monotonic() < stop_at:
                # Mostly new texts (generation), some repeats (cache), all routes.
                text = corpus[i % len(corpus)] + ("" if i % 4 == 0 else f" (#{n}-{i})")
                route = routes[i % len(routes)]
                try:
                    r = c.post(route, json={"text": text}, timeout=300)
                    with lock:
                        results.append((r.status_code, route))
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(f"{route}: {exc!r}")
                i += CLIENTS

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        rss.append(process.memory_info().rss)
        time.sleep(1)
    for t in threads:
        t.join()

    assert errors == []
    assert len(results) >= CLIENTS  # every client got at least one answer
    assert {status for status, _ in results} == {200}
    # Flat memory: after the first quarter (model pages touched, caches warm) RSS may wobble,
    # but not climb by more than 64 MiB.
    warm = max(rss[: len(rss) // 4])
    assert max(rss) - warm < 64 * 2**20, [r // 2**20 for r in rss]
    with server.client() as c:
        assert c.get("/health").json()["stats"]["queued"] == 0
