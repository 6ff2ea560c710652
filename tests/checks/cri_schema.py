"""The CRI JSON Schemas in ``fixtures/cri-schema/``: what crictl ``runp``/``create`` files may hold.

crictl loads these files into the CRI Go structs with encoding/json and silently drops any
key it does not know (docs/behaviour/ecosystem.md §2.1, §7), so "crictl accepted the file" says
nothing; validating against a schema built from the CRI json tags (every object
``additionalProperties: false``) does.  The schemas' ``$comment`` cites the source.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from . import FIXTURES

SCHEMA_DIR = FIXTURES / "cri-schema"
POD = "pod-sandbox-config"
CONTAINER = "container-config"


@cache
def schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))


@cache
def validator(name: str) -> Draft202012Validator:
    s = schema(name)
    Draft202012Validator.check_schema(s)
    return Draft202012Validator(s)


def schema_errors(config: Any, name: str) -> list[str]:
    """Every way ``config`` departs from the schema, as ``path: message`` lines."""
    out = []
    for err in sorted(validator(name).iter_errors(config), key=lambda e: list(e.absolute_path)):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        out.append(f"{where.lstrip('.') or '(top)'}: {err.message}")
    return out


def assert_valid(config: Any, name: str) -> None:
    errors = schema_errors(config, name)
    assert not errors, f"not a valid CRI {name} for crictl:\n  " + "\n  ".join(errors)


__all__ = ["CONTAINER", "POD", "assert_valid", "schema", "schema_errors", "validator"]
