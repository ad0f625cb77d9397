"""Reading agent configs and hardware profiles, with errors an installer can act on.

Every problem names the file, the dotted field and — found by scanning the TOML
text for the table and key — the line, e.g.::

    /etc/gatepost/lane.toml:14: lane.capcity: unknown field (did you mean 'capacity'?)

Paths to profiles are looked up next to the file that names them first, then
in the firmware_configs directories (``GATEPOST_FIRMWARE_CONFIGS``, the source
tree, ``/etc/gatepost/firmware_configs``, ``/usr/share/gatepost/firmware_configs``).
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import sys
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from edge.config.profile import (
    BadgeReaderProfile,
    BarrierProfile,
    BoardProfile,
    CardReaderProfile,
    DisplayProfile,
    HardwareProfile,
    PrinterProfile,
)
from edge.config.schema import AgentConfig
from edge.errors import ConfigError

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

PART_MODELS: dict[str, type[BaseModel]] = {
    "barrier": BarrierProfile,
    "card_reader": CardReaderProfile,
    "badge_reader": BadgeReaderProfile,
    "display": DisplayProfile,
    "printer": PrinterProfile,
}
KIND_MODELS: dict[str, type[BaseModel]] = {"board": BoardProfile, **PART_MODELS}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in one file."""

    field: str
    message: str
    line: int | None


class ConfigFileError(ConfigError):
    """A config or profile file is invalid; carries every problem found, with lines."""

    def __init__(self, file: str | Path, problems: list[Problem]) -> None:
        self.file = str(file)
        self.problems = problems
        first = problems[0]
        self.field = first.field
        self.line = first.line
        if len(problems) == 1:
            where = f"{self.file}:{first.line}" if first.line else self.file
            text = f"{first.field}: {first.message}" if first.field else first.message
            super().__init__(text, source=where)
        else:
            lines = [
                f"  {'line ' + str(p.line) if p.line else 'file'}: {p.field + ': ' if p.field else ''}{p.message}"
                for p in problems
            ]
            super().__init__(f"{len(problems)} problems\n" + "\n".join(lines), source=self.file)


def firmware_dirs() -> list[Path]:
    """Where shipped profiles are looked for, most specific first.

    The source tree when running from a checkout; ``<venv>/share/gatepost`` where
    ``pip install`` put the shipped copy (pyproject's data-files).
    """
    dirs = []
    if env := os.environ.get("GATEPOST_FIRMWARE_CONFIGS"):
        dirs.append(Path(env))
    dirs.append(Path(__file__).resolve().parents[2] / "firmware_configs")
    dirs.append(Path(sys.prefix) / "share" / "gatepost" / "firmware_configs")
    dirs += [Path("/etc/gatepost/firmware_configs"), Path("/usr/share/gatepost/firmware_configs")]
    return dirs


def shipped_firmware() -> Path:
    """The first firmware_configs folder of :func:`firmware_dirs` that holds the shipped example configs."""
    for folder in firmware_dirs():
        if (folder / "examples").is_dir():
            return folder
    raise ConfigError(
        "no firmware_configs folder with the shipped examples in "
        + ", ".join(map(str, firmware_dirs()))
    )


# --------------------------------------------------------------------------- reading


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """The parsed document and its text; unreadable or malformed TOML is a ConfigFileError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(path, [Problem("", "file not found", None)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(path, [Problem("", f"cannot read: {exc}", None)]) from exc
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        raise ConfigFileError(
            path, [Problem("", f"not valid TOML: {exc}", int(match.group(1)) if match else None)]
        ) from exc


def validate(model: type[M], doc: dict[str, Any], path: Path, text: str) -> M:
    """``model.model_validate(doc)`` with every error turned into a Problem with its line."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        problems = _merge_typos(
            [_problem(model, err, text) for err in exc.errors(include_url=False)]
        )
        for p in problems:
            log.error("config problem in %s line %s: %s: %s", path, p.line, p.field, p.message)
        raise ConfigFileError(path, problems) from None


def _merge_typos(problems: list[Problem]) -> list[Problem]:
    """Drop "x: missing" when the same table has a typo suggesting "x": one mistake, one problem."""
    suggested = set()
    for p in problems:
        match = re.search(r"did you mean '([^']+)'", p.message)
        if match:
            suggested.add(".".join([*p.field.split(".")[:-1], match.group(1)]))
    return [p for p in problems if not (p.message == "missing (required)" and p.field in suggested)]


def _problem(model: type[BaseModel], err: Any, text: str) -> Problem:
    loc = [str(part) for part in err["loc"] if not isinstance(part, int)]
    # union/function wrappers such as "function-after[...]" are noise for an installer
    loc = [part for part in loc if "[" not in part]
    message = err["msg"]
    if err["type"] == "value_error":
        message = message.removeprefix("Value error, ")
        # our validators say "dotted.field: what is wrong" so we can point at the line
        named = re.match(r"^([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (.*)$", message, re.DOTALL)
        if named:
            inner = named.group(1).split(".")
            # a validator may name its field relative to its own model or from the top
            loc = inner if loc and inner[0] == loc[0] else loc + inner
            message = named.group(2)
    elif err["type"] == "extra_forbidden":
        allowed = _allowed_fields(model, loc[:-1])
        guess = difflib.get_close_matches(loc[-1], allowed, n=1) if loc else []
        message = "unknown field" + (f" (did you mean {guess[0]!r}?)" if guess else "")
        if allowed:
            message += f"; allowed here: {', '.join(allowed)}"
    elif err["type"] == "missing":
        message = "missing (required)"
    elif "input" in err and not isinstance(err["input"], dict):
        message += f" (got {err['input']!r})"
    field = ".".join(loc)
    return Problem(field, message, find_line(text, loc))


def _allowed_fields(model: type[BaseModel], loc: list[str]) -> list[str]:
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", {})
        if part not in fields:
            return []
        current = _model_in(fields[part].annotation)
        if current is None:
            return []
    return [
        name for name in getattr(current, "model_fields", {}) if name not in ("profile", "path")
    ]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)


def _split_key(key: str) -> list[str]:
    return [
        part.strip().strip("\"'")
        for part in re.split(r"\s*\.\s*(?=(?:[^\"']|\"[^\"]*\"|'[^']*')*$)", key)
    ]


def find_line(text: str, loc: list[str] | tuple[str, ...]) -> int | None:
    """The 1-based line that defines ``loc`` (or its nearest parent), by scanning TOML text.

    Handles ``[table]`` headers, ``key = …`` lines and dotted keys; a field given
    inside an inline table is found through its parent key.
    """
    positions: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TABLE.match(line)
        if header:
            table = tuple(_split_key(header.group(1)))
            positions.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            full = table + tuple(_split_key(key.group(1)))
            for depth in range(len(table) + 1, len(full) + 1):
                positions.setdefault(full[:depth], number)
    wanted = tuple(loc)
    while wanted:
        if wanted in positions:
            return positions[wanted]
        wanted = wanted[:-1]
    return None


# --------------------------------------------------------------------------- profiles


def resolve_ref(ref: str, near: Path, *, text: str, field: list[str], file: Path) -> Path:
    """Find a profile named by ``ref`` (next to ``near``, then in the firmware_configs dirs)."""
    candidate = Path(ref)
    places = (
        [candidate]
        if candidate.is_absolute()
        else [near / ref, near.parent / ref] + [d / ref for d in firmware_dirs()]
    )
    for place in places:
        if place.is_file():
            return place.resolve()
    looked = ", ".join(dict.fromkeys(str(p.parent.resolve()) for p in places))
    raise ConfigFileError(
        file,
        [
            Problem(
                ".".join(field),
                f"no such profile {ref!r} (looked in {looked})",
                find_line(text, field),
            )
        ],
    )


def load_part(path: Path, kind: str) -> BaseModel:
    """Load a part profile, checking that it is the ``kind`` expected."""
    doc, text = read_toml(path)
    found = doc.get("kind")
    if found != kind:
        raise ConfigFileError(
            path,
            [
                Problem(
                    "kind",
                    f"expected a {kind} profile here, this file is {found!r}",
                    find_line(text, ["kind"]),
                )
            ],
        )
    return validate(PART_MODELS[kind], doc, path, text)


def load_profile(path: str | Path, *, barrier: Path | None = None) -> HardwareProfile:
    """Load a board profile and every part it names into one HardwareProfile."""
    path = Path(path)
    doc, text = read_toml(path)
    if doc.get("kind", "board") != "board":
        raise ConfigFileError(
            path,
            [
                Problem(
                    "kind",
                    f"expected a board profile, this file is {doc.get('kind')!r}",
                    find_line(text, ["kind"]),
                )
            ],
        )
    board = validate(BoardProfile, doc, path, text)
    parts: dict[str, Any] = {"board": board}
    for kind in PART_MODELS:
        ref = getattr(board.parts, kind)
        if kind == "barrier" and barrier is not None:
            parts[kind] = load_part(barrier, kind)
        elif ref is not None:
            parts[kind] = load_part(
                resolve_ref(
                    ref, path.resolve().parent, text=text, field=["parts", kind], file=path
                ),
                kind,
            )
    return validate(HardwareProfile, parts, path, text)


# --------------------------------------------------------------------------- agent config


def load_config(path: str | Path) -> AgentConfig:
    """Load and check a lane or kiosk config and the hardware profile it names.

    Secrets are not read here (see ``KeysSection.resolve``, ``LinkSection.password``).
    """
    path = Path(path)
    doc, text = read_toml(path)
    for reserved in ("profile", "path"):
        if reserved in doc:
            raise ConfigFileError(
                path,
                [
                    Problem(
                        reserved,
                        "unknown field (set by the loader, not the file)",
                        find_line(text, [reserved]),
                    )
                ],
            )
    config = validate(AgentConfig, doc, path, text)
    base = path.resolve().parent
    hw = config.hardware
    profile_path = resolve_ref(
        hw.profile, base, text=text, field=["hardware", "profile"], file=path
    )
    barrier_path = (
        resolve_ref(hw.barrier, base, text=text, field=["hardware", "barrier"], file=path)
        if hw.barrier
        else None
    )
    try:
        profile = load_profile(profile_path, barrier=barrier_path)
    except ConfigFileError as exc:
        if (
            barrier_path is not None
            and exc.file == str(profile_path)
            and exc.field.startswith("pins.barrier")
        ):
            # the installer changed the barrier here, so point here (and say what the board has)
            raise ConfigFileError(
                path,
                [
                    Problem(
                        "hardware.barrier",
                        f"{hw.barrier} does not fit {hw.profile}: {exc.problems[0].message}",
                        find_line(text, ["hardware", "barrier"]),
                    )
                ],
            ) from None
        raise
    profile = _apply_port_overrides(profile, config, path, text)
    _check_fit(config, profile, path, text)
    if config.tariff is not None:
        tariff = base / config.tariff.file
        if not tariff.is_file():
            raise ConfigFileError(
                path,
                [
                    Problem(
                        "tariff.file",
                        f"no such file {str(tariff)!r}",
                        find_line(text, ["tariff", "file"]),
                    )
                ],
            )
    log.info(
        "config loaded: %s (%s %s/%s, profile %s)",
        path,
        config.device.role,
        config.device.site,
        config.device.id,
        profile_path,
    )
    return config.model_copy(update={"profile": profile, "path": str(path.resolve())})


def _apply_port_overrides(
    profile: HardwareProfile, config: AgentConfig, path: Path, text: str
) -> HardwareProfile:
    update: dict[str, Any] = {}
    for kind, port in config.hardware.ports.model_dump().items():
        if port is None:
            continue
        field = ["hardware", "ports", kind]
        part = getattr(profile, kind)
        if part is None:
            raise ConfigFileError(
                path,
                [
                    Problem(
                        ".".join(field),
                        f"the board profile has no {kind} to override",
                        find_line(text, field),
                    )
                ],
            )
        try:
            update[kind] = type(part).model_validate({**part.model_dump(), "port": port})
        except ValidationError as exc:
            msg = "; ".join(e["msg"] for e in exc.errors(include_url=False))
            raise ConfigFileError(
                path, [Problem(".".join(field), f"{msg} (got {port!r})", find_line(text, field))]
            ) from None
    return profile.model_copy(update=update) if update else profile


def _check_fit(config: AgentConfig, profile: HardwareProfile, path: Path, text: str) -> None:
    """The lane's needs against what the board has: a clear problem for each missing part."""
    role = config.device.role
    problems: list[Problem] = []

    def need(ok: bool, field: list[str], message: str) -> None:
        if not ok:
            problems.append(Problem(".".join(field), message, find_line(text, field)))

    pins = profile.board.pins
    if role in ("entry", "exit"):
        lane = config.lane
        assert lane is not None
        need(
            profile.barrier is not None,
            ["hardware", "profile"],
            "a lane needs a barrier; the profile has none",
        )
        need(
            pins.arming_loop is not None and pins.safety_loop is not None,
            ["hardware", "profile"],
            "a lane needs arming_loop and safety_loop pins; the profile lacks them",
        )
        if lane.ticket_medium == "card":
            need(
                profile.card_reader is not None,
                ["lane", "ticket_medium"],
                "ticket_medium = 'card' needs a card reader in the hardware profile",
            )
        elif role == "entry":
            need(
                profile.printer is not None,
                ["lane", "ticket_medium"],
                "ticket_medium = 'paper' needs a printer in the hardware profile",
            )
        else:
            need(
                profile.board.camera is not None,
                ["lane", "ticket_medium"],
                "ticket_medium = 'paper' at an exit needs a camera to read the QR",
            )
    if problems:
        raise ConfigFileError(path, problems)
