"""What each install extra must provide: the modules it carries, walked and checked against pyproject.toml.

A Pi runs ``pip install 'gatepost[edge]'``, a server ``'gatepost[central]'``:
each extra must declare every third-party package its modules import, or the
first guard sign-on on a Pi fails on a missing ``argon2``. Two checks:

- **static** (:func:`static_problems`, any venv with the project's packages
  installed): parse every module of an extra with ``ast``, follow the
  project's own imports, and compare the third-party top-level names with the
  extra's requirements in ``pyproject.toml`` (mapped to distributions with
  ``importlib.metadata.packages_distributions``). Declared packages nobody
  imports are reported too, unless :data:`RUNTIME_ONLY` says why they stay.
- **walk** (:func:`walk`, in a clean venv with only that extra): import every
  module the extra carries, from the installed package.

Plain Python, stdlib only, so a clean ``[edge]`` venv (no pytest) runs it:

    python tests/install/imports.py walk edge       # exit 1 and the failures if an import fails
    python tests/install/imports.py static          # every extra, against pyproject.toml
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import sys
import tomllib
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "gatepost"
FIRST_PARTY = ("edge", "central", "tests")

DEMO_ONLY = ("edge.sim.demo",)
"""Edge modules that need central (the demo runs central in-process): in ``[demo]``, not ``[edge]``."""

NOT_IMPORTABLE = ("central.db.migrations.env",)
"""Run by Alembic with its context set up (``gatepost central migrate`` exercises it), not importable alone."""

CENTRAL_ONLY_IN_DEMO = ("central.embedded_broker",)
"""Central modules only the demo uses (the embedded amqtt broker); a real site runs Mosquitto."""

RUNTIME_ONLY: dict[str, str] = {
    "psycopg": "SQLAlchemy's PostgreSQL driver, loaded by a postgresql+psycopg:// URL",
    "pytest-timeout": "a pytest plugin (timeout = 300 in pyproject.toml)",
    "pytest-xdist": "a pytest plugin (make test runs -n 3)",
    "mypy": "a tool run from the command line (make lint)",
    "ruff": "a tool run from the command line (make lint)",
    "lgpio": 'gpiozero\'s LGPIOFactory imports it (pin_factory = "lgpio")',
    "pyusb": "python-escpos imports it for a USB printer (the shipped printer profile)",
    "types-pyserial": "type stubs mypy reads (make lint)",
    "types-pyyaml": "type stubs mypy reads (make lint)",
    "types-qrcode": "type stubs mypy reads (make lint)",
}
"""Declared distributions that no module imports by name, and why they are declared all the same."""

EXTRAS = ("edge", "central", "demo", "dev", "pi")


# --------------------------------------------------------------------------- which modules an extra carries


def modules_of(extra: str) -> list[str]:
    """The project modules an extra must import: what its agent or service may load, by name."""
    edge = [m for m in _source_modules("edge") if not _under(m, DEMO_ONLY)]
    central = [
        m
        for m in _source_modules("central")
        if not _under(m, NOT_IMPORTABLE + CENTRAL_ONLY_IN_DEMO)
    ]
    everything = [
        m
        for m in _source_modules("edge") + _source_modules("central")
        if not _under(m, NOT_IMPORTABLE)
    ]
    if extra in ("edge", "pi"):
        return edge
    if extra == "central":
        return central
    if extra == "demo":
        return everything
    if extra == "dev":
        return everything + _source_modules("tests")
    raise ValueError(f"unknown extra {extra!r}; one of {', '.join(EXTRAS)}")


def _source_modules(package: str) -> list[str]:
    """Dotted names of every ``.py`` file of ``package`` in the checkout (a package's ``__init__`` by its name).

    Folders without ``__init__.py`` (``edge/console``) are namespace packages, which setuptools'
    pyproject configuration installs too.
    """
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _under(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


# --------------------------------------------------------------------------- static check


@dataclass(frozen=True)
class Imported:
    """One third-party (or first-party) top-level name imported by a module, and where."""

    name: str
    module: str
    line: int


def imports_in(module: str) -> Iterator[Imported]:
    """Absolute imports of ``module`` (source in the checkout), leaving out optional ones.

    An import inside ``try: … except ImportError`` is optional by design (the
    code says what to install when it is missing) and is not required of the extra.
    """
    path = _path_of(module)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    optional: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            for inner in node.body:
                optional.update(id(n) for n in ast.walk(inner))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Imported(alias.name, module, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                yield Imported(target, module, node.lineno)
            elif node.module:
                yield Imported(node.module, module, node.lineno)
                for alias in node.names:  # "from edge import wire" imports the module edge.wire
                    yield Imported(f"{node.module}.{alias.name}", module, node.lineno)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = []
    if isinstance(handler.type, ast.Name):
        names = [handler.type.id]
    elif isinstance(handler.type, ast.Tuple):
        names = [e.id for e in handler.type.elts if isinstance(e, ast.Name)]
    return bool({"ImportError", "ModuleNotFoundError"} & set(names))


def _path_of(module: str) -> Path:
    base = ROOT.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def closure(start: Iterable[str]) -> tuple[set[str], list[Imported]]:
    """The project modules reachable from ``start`` by import, and every third-party import among them."""
    known = set(_source_modules("edge") + _source_modules("central") + _source_modules("tests"))
    seen: set[str] = set()
    third: list[Imported] = []
    todo = list(start)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        folder = module.rpartition(".")[0]
        for imp in imports_in(module):
            top = imp.name.split(".")[0]
            if f"{folder}.{top}" in known:  # a script's sibling on its sys.path[0] (smoke_common)
                todo.append(f"{folder}.{top}")
            elif top in FIRST_PARTY:
                # the module itself if it is one, else its package (a name imported from it)
                name = imp.name
                while name and name not in known:
                    name = name.rpartition(".")[0]
                if name:
                    todo.append(name)
            elif top not in sys.stdlib_module_names and top != "__future__":
                third.append(imp)
    return seen, third


def declared(extra: str | None, pyproject: Path = ROOT / "pyproject.toml") -> set[str]:
    """Normalised distribution names an install with ``extra`` gets by declaration (the base deps included)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    names: set[str] = set()
    todo = [extra] if extra else []
    done: set[str] = set()
    for req in project.get("dependencies", []):
        names.add(_dist_name(req))
    while todo:
        current = todo.pop()
        if current in done:
            continue
        done.add(current)
        if current not in optional:
            raise ValueError(f"pyproject.toml has no extra {current!r}")
        for req in optional[current]:
            name = _dist_name(req)
            if name == PROJECT:
                todo += [e.strip() for e in re.search(r"\[([^\]]*)\]", req).group(1).split(",")]  # type: ignore[union-attr]
            else:
                names.add(name)
    return names


def _dist_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"cannot read requirement {requirement!r}")
    return _normalise(match.group(1))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def static_problems(
    extras: Iterable[str] = EXTRAS, *, pyproject: Path = ROOT / "pyproject.toml"
) -> list[str]:
    """Everything wrong between what the extras' modules import and what ``pyproject`` declares."""
    to_dists = {
        top: {_normalise(d) for d in dists}
        for top, dists in importlib.metadata.packages_distributions().items()
    }
    problems: list[str] = []
    for extra in extras:
        wanted = declared(extra, pyproject)
        reached, third = closure(modules_of(extra))
        if extra in ("edge", "pi"):
            problems += [
                f"[{extra}] {m} is an edge module that needs central; add it to DEMO_ONLY or drop the import"
                for m in sorted(reached)
                if m.startswith("central")
            ]
        used: set[str] = set()
        for imp in sorted(third, key=lambda i: (i.module, i.line)):
            top = imp.name.split(".")[0]
            dists = to_dists.get(top)
            if not dists:
                problems.append(
                    f"[{extra}] {imp.module}:{imp.line} imports {top!r}, which no installed "
                    "distribution provides (install the dev venv, or declare it)"
                )
                continue
            used |= dists
            if not dists & wanted:
                problems.append(
                    f"[{extra}] {imp.module}:{imp.line} imports {top!r} (distribution "
                    f"{'/'.join(sorted(dists))}), not declared in gatepost[{extra}]"
                )
        own = _own_requirements(extra, pyproject)
        for name in sorted(own - used - set(RUNTIME_ONLY)):
            problems.append(
                f"[{extra}] declares {name!r}, which none of its modules imports "
                "(drop it, or say why in RUNTIME_ONLY)"
            )
    return sorted(set(problems))


def _own_requirements(extra: str, pyproject: Path) -> set[str]:
    """The extra's own distribution lines (not those it gets through gatepost[...] or the base)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    own = {_dist_name(r) for r in project["optional-dependencies"][extra]} - {PROJECT}
    if (
        extra == "edge"
    ):  # the base dependencies are used by both sides; edge must import each of them
        own |= {_dist_name(r) for r in project.get("dependencies", [])}
    return own


# --------------------------------------------------------------------------- import walk


def walk(extra: str) -> list[str]:
    """Import every module ``extra`` carries; returns one line per failure (empty: all imported)."""
    failures = []
    for module in modules_of(extra):
        if _under(module, ("tests",)):
            continue
        try:
            importlib.import_module(module)
        except BaseException as exc:  # noqa: BLE001 - a SystemExit at import is a failure to report too
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            failures.append(f"{module}: {last}")
    return failures


def installed_from_site_packages() -> str | None:
    """Where ``edge`` and ``central`` were imported from; None if from site-packages (an install, not the checkout)."""
    for package in ("edge", "central"):
        try:
            mod = importlib.import_module(package)
        except ImportError:
            continue
        if "site-packages" not in str(mod.__file__):
            return f"{package} was imported from {mod.__file__}, not from the venv's site-packages"
    return None


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "walk":
        extra = argv[1]
        where = installed_from_site_packages() if "--installed" in argv else None
        failures = walk(extra) + ([where] if where else [])
        count = len([m for m in modules_of(extra) if not _under(m, ("tests",))])
        for line in failures:
            print(f"  FAIL {line}")
        print(
            f"import walk [{extra}]: {count - len(failures)} of {count} modules imported — "
            f"{'PASS' if not failures else 'FAIL'}"
        )
        return 1 if failures else 0
    if argv and argv[0] == "static":
        problems = static_problems(argv[1:] or EXTRAS)
        for line in problems:
            print(f"  FAIL {line}")
        print(
            f"declared vs imported: {len(problems)} problems — {'PASS' if not problems else 'FAIL'}"
        )
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
