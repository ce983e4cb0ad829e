import sys

import pytest

from srllm.training import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt only")
def test_glibc_takes_every_setting_that_keeps_freed_memory():
    # mallopt refuses a value out of its range (an mmap threshold over 32 MiB) by returning 0:
    # then training would fault its pages back in as before, silently.
    assert memory.keep_freed_memory() is True


def test_without_mallopt_nothing_changes(monkeypatch):
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.keep_freed_memory() is False
