"""Read a tariff from TOML (a file) or from a dict (site config over MQTT).

Every failure is a :class:`~edge.errors.TariffError` that names the source, the
field as a dotted path (``classes.car.bands.1.unit_minutes``) and, for files,
the line, so an installer can fix the file without reading a traceback.
"""

from __future__ import annotations

import logging
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.errors import TariffError
from edge.tariff.model import Tariff

log = logging.getLogger(__name__)

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'. ]+?)\s*=")


def load_tariff(path: str | Path) -> Tariff:
    """Load and validate a TOML tariff file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        log.error("cannot read tariff %s: %s", source, exc)
        raise TariffError(f"cannot read tariff file: {exc}", source=source) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        log.error("tariff %s is not valid TOML: %s", source, exc)
        raise TariffError(f"not valid TOML: {exc}", source=source) from exc
    return parse_tariff(data, source=source, lines=toml_key_lines(text))


def parse_tariff(data: Any, source: str = "tariff", lines: dict[str, int] | None = None) -> Tariff:
    """Validate a tariff document (e.g. the ``data`` of a retained config message)."""
    if not isinstance(data, dict):
        raise TariffError(f"a tariff must be a table/object, got {type(data).__name__}", source)
    try:
        return Tariff.model_validate(data)
    except ValidationError as exc:
        problems = []
        first_line: int | None = None
        for error in exc.errors():
            dotted = ".".join(str(part) for part in error["loc"]) or "(top level)"
            line = _line_for(error["loc"], lines or {})
            if first_line is None:
                first_line = line
            where = f"{dotted} (line {line})" if line else dotted
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        log.error("invalid tariff %s: %s", source, "; ".join(problems))
        located = f"{source}:{first_line}" if first_line else source
        raise TariffError("invalid tariff: " + "; ".join(problems), located) from exc


def toml_key_lines(text: str) -> dict[str, int]:
    """Map dotted key paths to the 1-based line that defines them (best effort).

    Understands ``[table]``, ``[[array.of.tables]]`` (numbered from 0) and
    ``key = value`` lines, which is how tariffs are written; keys inside inline
    tables fall back to their parent's line.
    """
    found: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            name = _dotted(header.group(2))
            if header.group(1) == "[[":
                index = counts.get(name, -1) + 1
                counts[name] = index
                found.setdefault(name, number)
                table = f"{_indexed(name, counts)}.{index}"
            else:
                table = _indexed(name, counts)
            found.setdefault(table, number)
            continue
        key = _KEY.match(raw)
        if key and not raw.lstrip().startswith("#"):
            dotted = _dotted(key.group(1))
            found.setdefault(f"{table}.{dotted}" if table else dotted, number)
    return found


def _dotted(name: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in name.split("."))


def _indexed(name: str, counts: dict[str, int]) -> str:
    """``classes.car.bands.x`` → ``classes.car.bands.2.x`` when inside the 3rd ``[[bands]]``."""
    parts = name.split(".")
    out: list[str] = []
    for depth, part in enumerate(parts, start=1):
        out.append(part)
        prefix = ".".join(parts[:depth])
        if prefix != name and prefix in counts:
            out.append(str(counts[prefix]))
    return ".".join(out)


def _line_for(loc: tuple[Any, ...], lines: dict[str, int]) -> int | None:
    parts = [str(part) for part in loc]
    while parts:
        line = lines.get(".".join(parts))
        if line:
            return line
        parts.pop()
    return None
