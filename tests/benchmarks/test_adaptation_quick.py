"""
benchmarks/adaptation.py: the domain split and the headlines on known input, and the
whole study on the fixtures (`--quick`: the adapted and from-scratch arms, one tagger
seed) for form: every step ran, the adapted archive stands alone, the report has its
rows and the headline lines, a rerun reuses every step.
"""
import json
import os
import re
import subprocess
import sys
import tarfile
from types import SimpleNamespace

import pytest

from benchmarks import adaptation

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_domain_holds_out_whole_speeches(tmp_path, monkeypatch):
    from elmo_c.pipeline import data

    speeches = [f"Speech number {index} begins here. It ends with word{index} today." for index in range(20)]
    monkeypatch.setattr(data, "_sotu_texts", lambda: speeches)
    paths = adaptation.prepare_domain(str(tmp_path))
    train = open(paths["train"]).read().splitlines()
    valid = open(paths["valid"]).read().splitlines()
    assert len(train) == 36 and len(valid) == 4  # speeches 9 and 19 held out, two sentences each
    assert "speech number 9 begins here ." in valid and "it ends with word19 today ." in valid
    assert not any(line.endswith(("word9 today .", "word19 today .")) for line in train)


def test_headlines_compare_the_adapted_arm_with_scratch():
    rows = {
        "general": {"scores": {1: 0.30}},
        "adapted": {"validation": {"cosine_gain": 0.20, "top10_accuracy": 0.3}, "scores": {1: 0.32, 2: 0.36}},
        "scratch": {"validation": {"cosine_gain": 0.15, "top10_accuracy": 0.2}, "scores": {1: 0.30, 2: 0.30}},
    }
    figures = adaptation.headlines(rows, "ner")
    assert figures["adaptation_ner_general"] == pytest.approx(0.30) and "adaptation_cosine_gain_general" not in figures
    assert figures["adaptation_cosine_gain_adapted_minus_scratch"] == pytest.approx(0.05)
    assert figures["adaptation_top10_adapted_minus_scratch"] == pytest.approx(0.1)
    assert figures["adaptation_ner_adapted_minus_scratch"] == pytest.approx(0.04)
    text, _ = adaptation.report(rows, SimpleNamespace(task="ner", quick=True, seeds=2))
    assert "| general | none (the start) |" in text and "0.3400 +- 0.0283" in text


def test_the_quick_study_runs_end_to_end_and_resumes(tmp_path):
    command = [sys.executable, os.path.join(REPOSITORY, "benchmarks", "adaptation.py"), "--quick",
               "--output", str(tmp_path / "run"), "--results", str(tmp_path / "RESULTS_adaptation.md")]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    text = (tmp_path / "RESULTS_adaptation.md").read_text()
    for arm in ("adapted", "scratch"):
        assert text.count(f"| {arm} |") == 1
    headlines = dict(re.findall(r"^(adaptation_\w+) = (\S+)$", first.stdout, flags=re.M))
    for name in ("adaptation_cosine_gain_adapted", "adaptation_top10_scratch", "adaptation_ner_adapted",
                 "adaptation_cosine_gain_adapted_minus_scratch", "adaptation_ner_adapted_minus_scratch"):
        assert name in headlines
    with tarfile.open(tmp_path / "run" / "arms" / "adapted" / "pretrain" / "model.tar.gz") as archive:
        config = json.load(archive.extractfile("config.json"))
    assert config["model"]["encoder"]["projection_dim"] == 16  # the general model's, written in
    assert "from_archive" not in json.dumps(config["model"])
    second = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert second.returncode == 0
    assert "$ " not in second.stdout  # every step was reused: no command ran again
