"""What every section of the site file shares: strict frozen models, identifiers, and secrets
that are read from the environment or a file, never from the site file itself.
"""

from __future__ import annotations

__all__ = ["ConfigModel", "Identifier", "SecretSource", "format_path", "read_secret_file", "resolve_secret"]

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from vmsbridge.errors import ConfigError, ConfigProblem

Identifier = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="lower-case letters, digits, '.', '_' or '-'",
    ),
]


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SecretSource(ConfigModel):
    password_env: str | None = Field(None, description="environment variable holding the password")
    password_file: Path | None = Field(None, description="file holding the password (first line)")


def resolve_secret(owner_path: str, holder: SecretSource, env: dict[str, str] | None = None) -> str:
    """Read a connector's password from the environment or a file; never from the config itself."""
    environ = os.environ if env is None else env
    if holder.password_env is not None:
        value = environ.get(holder.password_env)
        if not value:
            raise ConfigError(
                owner_path,
                [
                    ConfigProblem(
                        f"{owner_path}.password_env", f"environment variable {holder.password_env} is not set"
                    )
                ],
            )
        return value
    if holder.password_file is not None:
        try:
            return read_secret_file(holder.password_file)
        except ValueError as exc:
            raise ConfigError(owner_path, [ConfigProblem(f"{owner_path}.password_file", str(exc))]) from None
    raise ConfigError(owner_path, [ConfigProblem(owner_path, "no password_env or password_file")])


def read_secret_file(path: Path) -> str:
    """The first line of a file holding a secret; ValueError naming the file (never the secret)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{path} has no secret on its first line")
    return lines[0].strip()


def format_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
