"""pipeline.memory: freed pages handed back where the C library can, nothing elsewhere."""

import pipeline.memory as memory


def test_release_asks_the_c_library_to_trim_everything(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: calls.append)
    memory.release()
    assert calls == [0]


def test_release_does_nothing_without_malloc_trim(monkeypatch):
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    assert memory.release() is None


def test_this_machines_c_library_is_found_and_trims():
    trim = memory._malloc_trim()
    assert trim is not None  # glibc on the Linux machines this project runs on
    assert trim(0) in (0, 1)
