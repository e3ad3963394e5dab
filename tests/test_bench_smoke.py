"""Benchmarks that nobody runs rot: each one runs here on a tiny input (figures are not checked)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT
from tests.connectors.conftest import free_ports


def run_bench(script: str, *args: str, timeout: float = 300) -> list[str]:
    """Run ``bench/<script>`` and return its output lines; a failure shows its stderr."""
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def assert_lines(lines: list[str], *labels: str, where: str = "start") -> None:
    for label in labels:
        found = any(line.startswith(label) if where == "start" else label in line for line in lines)
        assert found, (
            f"no line {'starting with' if where == 'start' else 'containing'} {label!r}:\n" + "\n".join(lines)
        )


def test_ingest_benchmark_runs_on_both_backends() -> None:
    lines = run_bench("ingest.py", "--events", "300", "--paced-rate", "600")
    for backend in ("SQLite", "PostgreSQL"):
        for run in ("saturated", "paced", "correlate"):
            assert any(line.startswith(backend) and run in line for line in lines), "\n".join(lines)


def test_onvif_events_benchmark_runs() -> None:
    lines = run_bench("onvif_events.py", "--quick", "--port", str(free_ports(3)))
    assert_lines(lines, "parse", "1 device", "3 devices", "latency")


def test_xprotect_events_benchmark_runs() -> None:
    assert_lines(run_bench("xprotect_events.py", "--quick"), "frames", "replay", "resume")


def test_video_benchmark_runs() -> None:
    lines = run_bench("video.py", "--quick", timeout=600)
    assert_lines(lines, "decode", "motion", "transcode", "redact", "pool")


def test_health_benchmark_runs() -> None:
    lines = run_bench("health.py", "--cameras", "30", "--days", "2")
    assert_lines(
        lines, "memory  timelines", "memory  report", "populate", "sqlite  read+report", "sqlite  render json"
    )
    assert_lines(lines, "sqlite  render html", "sqlite  total", "ratio")


def test_callup_benchmark_runs() -> None:
    lines = run_bench("callup.py", "--calls", "3", "--rate", "50")
    labels = ("input->goto", "device delivery", "bridge ", "background")
    assert_lines(lines, *(f"{run}  {label}" for run in ("idle", "50/s") for label in labels), where="in")


def test_callup_benchmark_runs_with_the_cameras_recorded() -> None:
    lines = run_bench("callup.py", "--calls", "3", "--rate", "50", "--record")
    assert_lines(lines, "idle  input->goto", "clips ", "recorded ", where="in")


def test_recorder_benchmark_runs() -> None:
    lines = run_bench("recorder.py", "--quick")
    assert_lines(lines, "source", "demux-only", "recorder", "streams/core", "ratio", "clip")
