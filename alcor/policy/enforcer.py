"""The policy in force: Neutron's defaults, an operator's file on top, rules bound per caller.

The file is oslo.policy's: YAML (or JSON) mapping rule names to check strings; a rule it names
replaces the default, a name the defaults lack adds a rule (helpers that other rules use).
Like Neutron with `enforce_scope`, every rule is for project-scoped callers only: a token
without a project (system or domain scope) is refused everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from alcor import errors
from alcor.policy import checks
from alcor.policy.checks import Bound, Creds, Target
from alcor.policy.defaults import RULES

# Bound rules are kept per (rule, caller); past this many the memo starts over, so a server
# that sees many projects keeps a bounded cache.
MEMO_LIMIT = 50_000


class Policy:
    """Rules by name, parsed once, bound to a caller's credentials on first use."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        texts = {**RULES, **(overrides or {})}
        self.rules = {name: checks.parse(text) for name, text in texts.items()}
        self.overridden = frozenset(overrides or ())
        self._memo: dict[tuple[str, frozenset[str], str, str], Bound] = {}

    @classmethod
    def load(cls, path: str) -> Policy:
        """Defaults, plus the rules of `path` when it is set (a missing file is an error:
        an operator who names one expects it to count)."""
        if not path:
            return cls()
        text = Path(path).read_text()
        data: Any = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
        if data is None:
            data = {}
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise checks.PolicySyntaxError(f"{path}: expected a mapping of rule names to strings")
        return cls(data)

    def has(self, name: str) -> bool:
        return name in self.rules

    def bound(self, name: str, creds: Creds) -> Bound:
        """Rule `name` specialised to `creds`: a constant or a function of the target. An
        unknown name is oslo.policy's `default` rule when asked directly, and False when
        referenced from another rule (`rule:undefined`)."""
        key = (name, creds.roles, creds.project_id, creds.user_id)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            found = self._memo[key] = self._bind(name, creds, ())
        return found

    def _bind(self, name: str, creds: Creds, seen: tuple[str, ...]) -> Bound:
        if not creds.project_id:
            return False
        node = self.rules.get(name)
        if node is None or name in seen:
            return False
        inner = (*seen, name)
        return node.bind(creds, lambda ref, c: self._bind(ref, c, inner))

    def check(self, creds: Creds, name: str, target: Target) -> bool:
        rule = name if name in self.rules else "default"
        bound = self.bound(rule, creds)
        return bound if isinstance(bound, bool) else bound[0](target)

    def enforce(self, creds: Creds, name: str, target: Target, shown: str | None = None) -> None:
        """Raise Neutron's 403 PolicyNotAuthorized unless `name` allows `target`."""
        if not self.check(creds, name, target):
            raise errors.PolicyNotAuthorized(action=shown or f"rule:{name}")
