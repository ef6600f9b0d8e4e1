"""The throughput callback: the corpus is counted beside training, in a process of its own."""
import json
import os
import threading
import time
from types import SimpleNamespace

import pytest

from elmo_c.training.throughput import ThroughputCallback, count_corpus


def _wait_for_count(callback: ThroughputCallback, seconds: float = 60.0) -> None:
    """Until the counting process's answer (a count or an error) has been taken."""
    deadline = time.monotonic() + seconds
    while callback._counting is not None and time.monotonic() < deadline:
        callback._check_count()
        time.sleep(0.01)


def test_the_corpus_is_counted_in_a_child_process_not_a_thread(tmp_path):
    corpus = tmp_path / "train.txt"
    corpus.write_text("the cat sat\n\na dog\n")
    callback = ThroughputCallback(str(tmp_path))
    threads = threading.active_count()
    callback.on_start(SimpleNamespace(data_loader=SimpleNamespace(data_path=str(corpus))))
    # A thread alive while the data loader forks its workers can leave a worker
    # waiting forever on a lock the thread held (the CI hang this replaced).
    assert threading.active_count() == threads
    _wait_for_count(callback)
    assert callback.corpus_tokens == (3 + 2) + (2 + 2)
    assert json.loads((tmp_path / "train.txt.tokens.json").read_text())["tokens"] == 9


def test_the_count_reaches_the_progress_bar_and_a_missing_corpus_only_warns(tmp_path, caplog):
    corpus = tmp_path / "train.txt"
    corpus.write_text("one two three four\n" * 10)
    callback = ThroughputCallback(str(tmp_path), refresh_seconds=0.0)
    callback.on_start(SimpleNamespace(data_loader=SimpleNamespace(data_path=str(corpus))))
    _wait_for_count(callback)
    callback._tokens = callback._tokens + 30
    metrics: dict = {}
    callback.on_batch(None, [], None, metrics, epoch=0, batch_number=1, is_training=True)
    assert metrics["tokens_per_s"] > 0 and metrics["epoch_minutes_left"] >= 0

    missing = ThroughputCallback(str(tmp_path / "run"))
    missing.on_start(SimpleNamespace(data_loader=SimpleNamespace(data_path=str(tmp_path / "absent.txt"))))
    _wait_for_count(missing)
    assert missing._counting is None and missing.corpus_tokens is None
    assert "Could not count the tokens" in caplog.text


def test_shards_are_counted_together(tmp_path):
    for name, text in (("a.txt", "x y\n"), ("b.txt", "z\n")):
        (tmp_path / name).write_text(text)
    assert count_corpus(str(tmp_path / "*.txt")) == 4 + 3
    with pytest.raises(OSError):
        count_corpus(str(tmp_path / "none.txt"))
