"""`serve --processes N` shares one metrics directory between its processes, set before
prometheus_client is imported (the library reads its switch then). The served behaviour
(every worker answers /metrics for all) is in tests/e2e/test_served_processes.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from debtcases.cli.processes import MULTIPROCESS_DIR_ENV, metrics_shared_by_processes


def test_importing_the_cli_leaves_prometheus_client_unloaded() -> None:
    """So `serve` can still name the directory before its processes' metrics exist."""
    code = "import sys, debtcases.cli; print('prometheus_client' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k != MULTIPROCESS_DIR_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_one_process_keeps_the_default_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIR_ENV, raising=False)
    with metrics_shared_by_processes(1) as shared:
        assert shared is None
        assert MULTIPROCESS_DIR_ENV not in os.environ


def test_a_directory_the_operator_set_is_used_and_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(MULTIPROCESS_DIR_ENV, str(tmp_path))
    with metrics_shared_by_processes(2) as shared:
        assert shared == str(tmp_path)
    assert tmp_path.is_dir()
    assert os.environ[MULTIPROCESS_DIR_ENV] == str(tmp_path)


def test_several_processes_refuse_once_prometheus_client_is_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(This test process has imported it: metrics made so far would be unseen by others.)"""
    monkeypatch.delenv(MULTIPROCESS_DIR_ENV, raising=False)
    assert "prometheus_client" in sys.modules
    with (
        pytest.raises(RuntimeError, match="before the metrics directory"),
        metrics_shared_by_processes(2),
    ):
        pass  # pragma: no cover
    assert MULTIPROCESS_DIR_ENV not in os.environ


def test_several_processes_get_a_fresh_directory_removed_after() -> None:
    """In a process that has not loaded prometheus_client, as `serve` is."""
    code = """
import os, sys
from debtcases.cli.processes import metrics_shared_by_processes, MULTIPROCESS_DIR_ENV
with metrics_shared_by_processes(2) as shared:
    assert os.environ[MULTIPROCESS_DIR_ENV] == shared and os.listdir(shared) == []
    from prometheus_client import Counter
    Counter("probe", "probe").inc()
    assert os.listdir(shared)  # the counter lives in the shared directory's files
print(shared, os.path.exists(shared), MULTIPROCESS_DIR_ENV in os.environ)
"""
    env = {k: v for k, v in os.environ.items() if k != MULTIPROCESS_DIR_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    path, exists, still_set = done.stdout.split()
    assert path.startswith("/") and exists == "False" and still_set == "False"
