"""Training holds up as users run it: distributed over 2 CPU workers, resumed after
a kill -9, and reproducible with the same seed.  Each test trains the tiny fixture
config through the `allennlp` CLI with dropout off and batches in file order, so
that the runs it compares see the same data in the same order."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from elmo_c.config_defaults import FIXTURES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLENNLP = os.path.join(os.path.dirname(sys.executable), "allennlp")
CONFIG = os.path.join(FIXTURES, "configs", "elmo_c_tiny.jsonnet")
# Each run takes seconds; a generous bound for a loaded 2-core machine.
TIMEOUT_SECONDS = 300
DETERMINISTIC = {
    "model.dropout": 0.0,
    "model.encoder.dropout": 0.0,
    "data_loader": {"batch_size": 16, "shuffle": False},
}


def _command(output: str, overrides: dict, *extra: str):
    return [ALLENNLP, "train", CONFIG, "-s", output, "--include-package", "elmo_c", "-o", json.dumps(overrides), *extra]


def _run(command, env=None) -> subprocess.CompletedProcess:
    """
    Runs a training command in a process group of its own; a run that hangs (a
    deadlocked data-loader worker, say) fails the test with its log after
    TIMEOUT_SECONDS instead of stalling the suite.
    """
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{' '.join(command[:3])} hung for {TIMEOUT_SECONDS} s:\n{stdout[-3000:]}{stderr[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _train(output: str, overrides: dict, *extra: str) -> dict:
    result = _run(_command(output, overrides, *extra))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(os.path.join(output, "metrics.json")) as stream:
        return json.load(stream)


def test_two_cpu_workers_match_one_worker_with_the_same_total_batch(tmp_path):
    single = _train(str(tmp_path / "single"), {**DETERMINISTIC, "trainer.num_epochs": 2})
    distributed = _train(
        str(tmp_path / "distributed"),
        {
            **DETERMINISTIC,
            "data_loader": {"batch_size": 8, "shuffle": False},
            "distributed": {"cuda_devices": [-1, -1]},
            "trainer.num_epochs": 2,
        },
    )
    # Each worker averages the loss over its own half of the batch's tokens, so the
    # runs differ only by that weighting; stated tolerance: 0.01 absolute.
    for key in ("validation_cosine", "validation_loss", "training_loss"):
        assert distributed[key] == pytest.approx(single[key], abs=0.01), key
    assert distributed["validation_cosine"] != pytest.approx(0.0, abs=1e-3)  # it trained


def test_same_seed_gives_the_same_metrics(tmp_path):
    overrides = {**DETERMINISTIC, "trainer.num_epochs": 1}
    first = _train(str(tmp_path / "first"), overrides)
    second = _train(str(tmp_path / "second"), overrides)
    for key in ("training_loss", "validation_loss", "validation_cosine", "validation_top10_accuracy"):
        assert first[key] == second[key], key


def test_resume_after_kill_9_matches_an_uninterrupted_run(tmp_path):
    overrides = {**DETERMINISTIC, "trainer.num_epochs": 4}
    uninterrupted = _train(str(tmp_path / "uninterrupted"), overrides)

    output = str(tmp_path / "killed")
    process = subprocess.Popen(_command(output, overrides), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = os.path.join(output, "model_state_e2_b0.th")
    deadline = time.time() + 300
    while not os.path.exists(checkpoint) and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "training ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not os.path.exists(os.path.join(output, "metrics.json"))

    resumed = _train(output, overrides, "--recover")
    assert resumed["epoch"] == 3
    for key in ("training_loss", "validation_loss", "validation_cosine"):
        assert resumed[key] == pytest.approx(uninterrupted[key], abs=1e-4), key


MID_EPOCH = {
    # Dropout on, shuffled buckets, 2 loader workers: everything that draws randomness.
    "data_loader": {
        "type": "reproducible",
        "batch_sampler": {"type": "bucket", "batch_size": 4, "sorting_keys": ["source"]},
        "max_instances_in_memory": 24,
        "num_workers": 2,
    },
    "validation_data_loader": {
        "type": "reproducible",
        "batch_sampler": {"type": "bucket", "batch_size": 4, "sorting_keys": ["source"], "shuffle": False,
                          "padding_noise": 0.0},
    },
    "trainer.num_epochs": 2,
    "trainer.checkpointer": {"type": "atomic", "save_every_num_batches": 3},
    "trainer.callbacks": [{"type": "rng_state"}, {"type": "resumable_metrics"}, {"type": "throughput"},
                          {"type": "kill_switch"}],
}


def _train_with_kill_switch(output: str, kill_at: str = "", *extra: str) -> subprocess.CompletedProcess:
    command = _command(output, MID_EPOCH, "--include-package", "tests.kill_switch", *extra)
    return _run(command, env={**os.environ, "ELMO_C_TEST_KILL_AT": kill_at})


def _metrics(output: str) -> dict:
    with open(os.path.join(output, "metrics.json")) as stream:
        return json.load(stream)


def test_resume_after_kill_9_mid_epoch_matches_an_uninterrupted_run(tmp_path):
    uninterrupted = str(tmp_path / "uninterrupted")
    assert _train_with_kill_switch(uninterrupted).returncode == 0

    output = str(tmp_path / "killed")
    killed = _train_with_kill_switch(output, "1:5")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert os.path.exists(os.path.join(output, "model_state_e1_b3.th"))  # saved 2 batches before the kill
    assert not os.path.exists(os.path.join(output, "metrics.json"))

    resumed = _train_with_kill_switch(output, "", "--recover")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    expected, got = _metrics(uninterrupted), _metrics(output)
    compared = [key for key in expected if key.startswith(("validation_", "best_validation_", "training_"))
                and not key.endswith(("_MB", "duration", "tokens_per_s"))]
    assert {"training_loss", "training_cosine", "validation_cosine"} <= set(compared)
    for key in compared:
        assert got[key] == pytest.approx(expected[key], abs=1e-4), key
    with open(os.path.join(output, "metrics_epoch_1.json")) as stream:  # the resumed epoch's own file too
        assert json.load(stream)["training_loss"] == pytest.approx(expected["training_loss"], abs=1e-4)
