"""Benchmarks that nobody runs rot: each one runs here on a tiny input (figures are not checked)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT
from tests.connectors.conftest import free_ports


def test_ingest_benchmark_runs_on_both_backends() -> None:
    done = subprocess.run(
        [sys.executable, "bench/ingest.py", "--events", "300", "--paced-rate", "600"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for backend in ("SQLite", "PostgreSQL"):
        for run in ("saturated", "paced", "correlate"):
            assert any(line.startswith(backend) and run in line for line in done.stdout.splitlines()), (
                done.stdout
            )


def test_onvif_events_benchmark_runs() -> None:
    done = subprocess.run(
        [sys.executable, "bench/onvif_events.py", "--quick", "--port", str(free_ports(3))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for label in ("parse", "1 device", "3 devices", "latency"):
        assert any(line.startswith(label) for line in lines), done.stdout


def test_xprotect_events_benchmark_runs() -> None:
    done = subprocess.run(
        [sys.executable, "bench/xprotect_events.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for label in ("frames", "replay", "resume"):
        assert any(line.startswith(label) for line in lines), done.stdout


def test_video_benchmark_runs() -> None:
    done = subprocess.run(
        [sys.executable, "bench/video.py", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for label in ("decode", "motion", "transcode", "redact", "pool"):
        assert any(line.startswith(label) for line in lines), done.stdout


def test_health_benchmark_runs() -> None:
    done = subprocess.run(
        [sys.executable, "bench/health.py", "--cameras", "30", "--days", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for label in ("timelines", "report", "render json", "render html", "total"):
        assert any(line.startswith(label) for line in lines), done.stdout


def test_callup_benchmark_runs() -> None:
    done = subprocess.run(
        [sys.executable, "bench/callup.py", "--calls", "3", "--rate", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for label in ("idle  connector->goto", "50/s  connector->goto", "50/s  background"):
        assert any(label in line for line in lines), done.stdout
