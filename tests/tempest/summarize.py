"""Turn tempest's subunit stream into a JSON summary: totals, and each failure with the end
of its traceback (what was expected and what Alcor answered). Skips are counted by reason.

Usage: summarize.py RESULTS.subunit OUT.json [ALCOR_COMMIT]   (from the tempest venv)
"""

from __future__ import annotations

import collections
import datetime
import importlib.metadata
import json
import re
import sys
from typing import Any

import subunit
import testtools


def _detail(test: dict[str, Any], limit: int = 1500) -> str:
    text = ""
    for name in ("traceback", "reason"):
        content = test["details"].get(name)
        if content is not None:
            text += b"".join(bytes(c) for c in content.iter_bytes()).decode("utf-8", "replace")
    return text[-limit:].strip()


def summarize(stream_path: str) -> dict[str, Any]:
    tests: list[dict[str, Any]] = []
    with open(stream_path, "rb") as f:
        result = testtools.StreamToDict(tests.append)
        result.startTestRun()
        subunit.ByteStreamToStreamResult(f, non_subunit_name="stdout").run(result)
        result.stopTestRun()
    counts: collections.Counter[str] = collections.Counter()
    skip_reasons: collections.Counter[str] = collections.Counter()
    failures = []
    for test in tests:
        test_id = re.sub(r"\[.*\]$", "", test["id"])
        if test_id.startswith(("setUpClass", "tearDownClass")) or "(" in test_id:
            test_id = test["id"]  # a class fixture: "setUpClass (module.Class)"
        status = test["status"]
        if status in (None, "exists"):
            continue
        counts[status] += 1
        if status == "skip":
            reason = _detail(test, 300).splitlines()
            skip_reasons[reason[-1] if reason else "?"] += 1
        elif status in ("fail", "uxsuccess"):
            start, stop = test["timestamps"]
            seconds = (stop - start).total_seconds() if start and stop else None
            failures.append({"id": test_id, "seconds": seconds, "detail": _detail(test)})
    return {
        "total": sum(counts.values()),
        "passed": counts["success"] + counts["xfail"],
        "failed": counts["fail"] + counts["uxsuccess"],
        "skipped": counts["skip"],
        "skip_reasons": dict(skip_reasons.most_common()),
        "failures": sorted(failures, key=lambda f: f["id"]),
    }


def main() -> None:
    summary = {
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "alcor_commit": sys.argv[3] if len(sys.argv) > 3 else "",
        "versions": {
            name: importlib.metadata.version(name)
            for name in ("tempest", "neutron-tempest-plugin", "keystone")
        },
        **summarize(sys.argv[1]),
    }
    with open(sys.argv[2], "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped")


if __name__ == "__main__":
    main()
