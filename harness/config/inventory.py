"""Load a TOML inventory into validated :class:`~harness.config.target.Target` objects.

Layout::

    [defaults]                 # optional; merged into every host (tables merge key by key)
    transport = "winrm"
    user = "Administrator"
    password_env = "HPC_E2E_PASSWORD"

    [hosts.lab1]               # the table name is the host name
    address = "lab1.example.test"
    [hosts.lab1.winrm]
    ca_bundle = "lab-ca.pem"   # relative paths are relative to the inventory file
    [hosts.lab1.labels]
    os_build = 26100

Every problem is reported as one line naming the file, the host and the field, e.g.
``lab.toml: host 'lab1': winrm.auth: must be one of ntlm, basic, ... (got 'digest')``,
raised as :class:`~harness.errors.ConfigError` before anything is sent to a host.
Passwords come only from ``password_env`` or ``password_file`` (README.md "Describing real hosts: the inventory").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.config.files import expand_home, file_kind_problem, load_toml
from harness.config.secrets import Secret
from harness.config.target import Target
from harness.errors import ConfigError

_TOP_KEYS = {"defaults", "hosts"}
_MERGED_TABLES = ("winrm", "ssh", "labels", "retry")
# (table or None for the host itself, key prefix) of secrets read from env or file.
_SECRETS = ((None, "password"), ("ssh", "key_passphrase"))
_PATH_FIELDS = {"winrm": ("ca_bundle", "cert_pem", "cert_key_pem"), "ssh": ("key_file", "known_hosts")}


def load_inventory(path: str | Path) -> list[Target]:
    """Read and validate ``path``; return the hosts sorted by name (deterministic for xdist)."""
    path = Path(path)
    if file_kind_problem(path) == "does not exist":
        raise ConfigError(f"{path}: inventory file does not exist",
                          hint="pass --inventory with an existing file, or omit it to use "
                               "the simulated host")
    raw = load_toml(path, what="inventory")
    return parse_inventory(raw, source=str(path), base_dir=path.parent)


def parse_inventory(raw: dict[str, Any], *, source: str, base_dir: Path) -> list[Target]:
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key {unknown[0]!r} (expected [defaults] and [hosts.NAME] tables)")
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}: defaults: must be a table")
    hosts = raw.get("hosts")
    if not isinstance(hosts, dict) or not hosts:
        raise ConfigError(f"{source}: no hosts: add at least one [hosts.NAME] table")
    targets = []
    for name, table in hosts.items():
        where = f"{source}: host {name!r}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table ([hosts.{name}])")
        targets.append(_build_target(name, _merge(defaults, table), where, source, base_dir))
    return sorted(targets, key=lambda t: t.name)


def _merge(defaults: dict, table: dict) -> dict:
    merged = dict(defaults)
    for key, value in table.items():
        if key in _MERGED_TABLES and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _build_target(name: str, data: dict, where: str, source: str, base_dir: Path) -> Target:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    if "name" in data:
        raise ConfigError(f"{where}: name: the host's name is its table name; remove the 'name' key")
    for table_name, prefix in _SECRETS:
        table = data if table_name is None else data.get(table_name)
        if isinstance(table, dict):
            _resolve_secret(table, prefix, where if table_name is None else f"{where}: {table_name}",
                            base_dir)
    for table_name, fields in _PATH_FIELDS.items():
        table = data.get(table_name)
        if isinstance(table, dict):
            for field in fields:
                if isinstance(table.get(field), str):
                    table[field] = (base_dir / expand_home(
                        table[field], what=f"{where}: {table_name}.{field}")).resolve()
    transport = data.get("transport", "winrm")
    if transport == "ssh" and "ssh" not in data:
        data["ssh"] = {}
    try:
        target = Target(name=name, source=source, **data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_first_error(exc)}") from None
    except TypeError as exc:  # e.g. a non-table where a table is expected
        raise ConfigError(f"{where}: {exc}") from None
    _check_credentials(target, where)
    return target


def _resolve_secret(table: dict, prefix: str, where: str, base_dir: Path) -> None:
    """Turn ``<prefix>_env`` / ``<prefix>_file`` into a Secret under ``<prefix>``."""
    if prefix in table:
        raise ConfigError(f"{where}: {prefix}: secrets are never written inline; "
                          f"use {prefix}_env = \"VARIABLE\" or {prefix}_file = \"path\"")
    env, file = table.pop(f"{prefix}_env", None), table.pop(f"{prefix}_file", None)
    if env is not None and file is not None:
        raise ConfigError(f"{where}: {prefix}_env and {prefix}_file are both set; keep one")
    try:
        if env is not None:
            if not isinstance(env, str) or not env:
                raise ConfigError(f"{where}: {prefix}_env: must be the name of an environment variable")
            table[prefix] = Secret.from_env(env)
        elif file is not None:
            if not isinstance(file, str) or not file:
                raise ConfigError(f"{where}: {prefix}_file: must be a path")
            table[prefix] = Secret.from_file(
                base_dir / expand_home(file, what=f"{where}: {prefix}_file"))
    except LookupError as exc:
        raise ConfigError(f"{where}: {prefix}_{'env' if env is not None else 'file'}: {exc}") from None


def _check_credentials(target: Target, where: str) -> None:
    if target.transport != "local" and not target.address:
        raise ConfigError(f"{where}: address: required for transport = '{target.transport}'")
    if target.transport == "winrm":
        needs_password = target.winrm.auth in ("ntlm", "basic", "credssp")
        if needs_password and not target.user:
            raise ConfigError(f"{where}: user: required for winrm auth = '{target.winrm.auth}'")
        if needs_password and target.password is None:
            raise ConfigError(f"{where}: password_env: required for winrm auth = "
                              f"'{target.winrm.auth}' (or password_file)")
    elif target.transport == "ssh":
        if not target.user:
            raise ConfigError(f"{where}: user: required for transport = 'ssh'")
        if target.ssh and target.ssh.auth == "password" and target.password is None:
            raise ConfigError(f"{where}: password_env: required for ssh auth = 'password' (or password_file)")


def _first_error(exc: ValidationError) -> str:
    """One line for the first problem: dotted field path, message, and the offending value."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check its spelling)"
    elif err["type"] in ("int_type", "int_from_float", "int_parsing"):
        msg = "must be a whole number"
    elif err["type"] in ("float_type", "float_parsing", "finite_number"):
        msg = "must be a finite number"
    elif err["type"] == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        msg = f"must be one of {expected}"
    value = err.get("input")
    shown = "" if err["type"] in ("missing", "extra_forbidden") or isinstance(value, (dict, Secret)) \
        else f" (got {value!r})"
    return f"{loc}: {msg}{shown}" if loc else f"{msg}{shown}"
