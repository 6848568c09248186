"""Metrics in-process: route labels stay bounded, and the Grafana dashboard asks only for
metrics the server exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from starlette.routing import Route

from alcor import metrics

ROOT = Path(__file__).resolve().parents[2]


async def _noop(request: Any) -> None:
    return None


def _label(mw: metrics.MetricsMiddleware, route: Route | None, status: int, **params: str) -> str:
    scope: dict[str, Any] = {"method": "GET", "path_params": params}
    if route is not None:
        scope["route"] = route
    child = mw._child(scope, status)
    return dict(zip(metrics.REQUESTS._labelnames, child._labelvalues, strict=True))["route"]


def test_route_labels_name_served_collections_only() -> None:
    mw = metrics.MetricsMiddleware(None, ["ports", "security-groups"], lambda: b"")
    member = Route("/v2.0/{collection}/{rid}", _noop)
    action = Route("/v2.0/{collection}/{rid}/{action}", _noop)
    assert _label(mw, member, 200, collection="ports", rid="x") == "/v2.0/ports/{rid}"
    assert _label(mw, member, 200, collection="security_groups.json", rid="x") == (
        "/v2.0/security-groups/{rid}"
    )
    assert _label(mw, member, 404, collection="junk-1", rid="x") == "/v2.0/{collection}/{rid}"
    assert _label(mw, action, 200, collection="ports", rid="x", action="go") == (
        "/v2.0/ports/{rid}/go"
    )
    assert _label(mw, action, 404, collection="ports", rid="x", action="nope") == (
        "/v2.0/ports/{rid}/{action}"
    )
    assert _label(mw, None, 404) == "unmatched"
    before = len(mw._children)
    for i in range(100):  # what clients send cannot grow the label set
        _label(mw, member, 404, collection=f"junk-{i}", rid=str(i))
    assert len(mw._children) == before


def test_dashboard_uses_exported_metrics() -> None:
    dashboard = json.loads((ROOT / "docs" / "grafana-alcor.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {
        re.sub(r"_(bucket|count|sum)$", "", m) for e in exprs for m in re.findall(r"alcor_\w+", e)
    }
    source = "".join(
        (ROOT / "alcor" / path).read_text() for path in ("metrics.py", "agent/metrics.py")
    )
    declared = set(re.findall(r'"(alcor_\w+)"', source))
    declared |= {f"{name}_total" for name in declared}  # counters get _total
    assert used and used <= declared, used - declared
