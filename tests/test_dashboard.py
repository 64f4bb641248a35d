"""The Grafana dashboard in docs/ only queries metrics the service exports."""

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import ingress.metrics  # noqa: F401 - registers the ingress's metrics
import worker.metrics  # noqa: F401 - registers the worker's metrics, FastStream's own among them

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana-dashboard.json"


def test_every_dashboard_query_names_an_exported_metric() -> None:
    # A labelled metric has no samples until used: take the families' names with their series suffixes.
    suffixes = ("", "_total", "_bucket", "_count", "_sum")
    exported = {family.name + suffix for family in REGISTRY.collect() for suffix in suffixes}
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queried = {
        name
        for panel in panels
        for target in panel["targets"]
        for name in re.findall(r"\b((?:livescore|faststream)_[a-z_]+)\b", target["expr"])
    }
    assert queried
    assert queried - exported == set()
