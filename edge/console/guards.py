"""Who may work the booth: staff badges, ID + PIN, supervisors, and PIN throttling.

A guard signs on with a staff badge (the booth's RDM6300 reader) or with a
staff ID and PIN. PINs are stored only as argon2id hashes. A supervisor's PIN
authorises a free exit. Guessing PINs is throttled per staff ID and per post:
after ``max_failures`` wrong PINs the ID is locked for ``lock_s`` seconds, and
each further lock doubles, so a four-digit PIN cannot be walked at the booth.

The roster is a TOML file the installer keeps beside the agent config::

    [[guard]]
    id = "g001"
    name = "王强"
    badge = "0C0C0C0C0C"            # optional
    role = "guard"                  # or "supervisor"
    pin_hash = "$argon2id$v=19$..."  # python -c "from edge.console.guards import hash_pin; print(hash_pin('1234'))"
"""

from __future__ import annotations

import logging
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from edge.errors import ConfigError, GatepostError

log = logging.getLogger("gatepost.console.guards")

if TYPE_CHECKING:
    from argon2 import PasswordHasher

Role = Literal["guard", "supervisor"]


@cache
def _hasher() -> PasswordHasher:
    # argon2 is loaded at the first PIN hashed or checked: a lane whose console nobody signs on
    # to with a PIN never pays its memory (the Pi's idle budget is 60 MB).
    from argon2 import PasswordHasher

    # OWASP's minimum argon2id setting: a Pi verifies in well under a second.
    return PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def _verify(pin_hash: str, pin: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(_hasher().verify(pin_hash, pin))
    except (VerificationError, InvalidHashError):
        return False


class SignOnRefused(GatepostError, PermissionError):
    """A sign-on or PIN check that failed; ``zh`` is the message for the booth screen."""

    def __init__(self, message: str, zh: str, retry_after_s: int | None = None) -> None:
        self.zh = zh
        self.retry_after_s = retry_after_s
        super().__init__(message)


def hash_pin(pin: str) -> str:
    """An argon2id hash of a PIN, for the roster file."""
    check_pin_shape(pin)
    return _hasher().hash(pin)


def check_pin_shape(pin: object) -> str:
    if not isinstance(pin, str) or not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise SignOnRefused("a PIN is 4-12 digits", "密码为4-12位数字")
    return pin


@dataclass(slots=True, frozen=True)
class Guard:
    """One member of staff who may work the booth."""

    staff_id: str
    name: str
    pin_hash: str
    role: Role = "guard"
    badge: str | None = None

    @property
    def label(self) -> str:
        """How events name the guard: ``id name`` (the id stays unique, the name is readable)."""
        return f"{self.staff_id} {self.name}"[:64]


class PinThrottle:
    """Counts wrong PINs per key (a staff ID, or the post); locks a key for a doubling time."""

    def __init__(
        self, clock: Callable[[], datetime], *, max_failures: int = 5, lock_s: float = 60.0
    ) -> None:
        self._clock = clock
        self.max_failures = max_failures
        self.lock_s = lock_s
        self._failures: dict[str, int] = {}
        self._locks: dict[str, int] = {}
        self._until: dict[str, datetime] = {}

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or None if it may try now."""
        until = self._until.get(key)
        if until is None:
            return None
        left = (until - self._clock()).total_seconds()
        return int(left) + 1 if left > 0 else None

    def failed(self, key: str) -> None:
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        if count >= self.max_failures:
            locks = self._locks.get(key, 0)
            self._locks[key] = locks + 1
            self._failures[key] = 0
            self._until[key] = self._clock() + timedelta(seconds=self.lock_s * (2**locks))
            log.warning("PIN attempts locked", extra={"key": key, "lock": locks + 1})

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
        self._locks.pop(key, None)
        self._until.pop(key, None)


class GuardRoster:
    """The staff of a post, looked up by ID or badge; verifies PINs under a throttle."""

    def __init__(
        self,
        guards: list[Guard],
        clock: Callable[[], datetime],
        *,
        max_failures: int = 5,
        lock_s: float = 60.0,
    ) -> None:
        self._by_id = {g.staff_id: g for g in guards}
        self._by_badge = {g.badge.upper(): g for g in guards if g.badge}
        self.throttle = PinThrottle(clock, max_failures=max_failures, lock_s=lock_s)
        self._post_throttle = PinThrottle(clock, max_failures=max_failures * 4, lock_s=lock_s)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path, clock: Callable[[], datetime]) -> GuardRoster:
        """Read a roster TOML file; a bad entry is a :class:`ConfigError` naming the file."""
        path = Path(path)
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read guard roster: {exc}", str(path)) from exc
        guards: list[Guard] = []
        for index, entry in enumerate(doc.get("guard", [])):
            where = f"{path} [[guard]] #{index + 1}"
            try:
                role = entry.get("role", "guard")
                if role not in ("guard", "supervisor"):
                    raise ValueError(f"role {role!r} is not guard or supervisor")
                pin_hash = str(entry["pin_hash"])
                if not pin_hash.startswith("$argon2"):
                    raise ValueError("pin_hash must be an argon2 hash, never a plain PIN")
                guards.append(
                    Guard(
                        str(entry["id"])[:32],
                        str(entry["name"])[:32],
                        pin_hash,
                        role,
                        str(entry["badge"]).upper() if entry.get("badge") else None,
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"bad guard entry: {exc}", where) from exc
        return cls(guards, clock)

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, staff_id: str) -> Guard | None:
        """The roster entry of ``staff_id`` (no PIN check: only for a guard who already proved it)."""
        return self._by_id.get(staff_id)

    def by_badge(self, badge: str) -> Guard:
        guard = self._by_badge.get((badge or "").strip().upper())
        if guard is None:
            log.info("unknown staff badge presented", extra={"badge": (badge or "")[:32]})
            raise SignOnRefused(
                "this badge is not a staff badge of this post", "此卡不是本岗亭员工卡"
            )
        return guard

    def check_pin(self, staff_id: str, pin: str, *, supervisor: bool = False) -> Guard:
        """The guard whose ID and PIN these are; throttled; a refusal never says which part was wrong."""
        staff_id = (staff_id or "").strip()
        with self._lock:
            for key, throttle in ((staff_id, self.throttle), ("post", self._post_throttle)):
                wait = throttle.retry_after(key)
                if wait is not None:
                    raise SignOnRefused(
                        f"too many wrong PINs; try again in {wait} s",
                        f"密码错误次数过多,请{wait}秒后再试",
                        retry_after_s=wait,
                    )
            guard = self._by_id.get(staff_id)
            ok = False
            if guard is not None and isinstance(pin, str) and pin.isdigit() and len(pin) <= 12:
                ok = _verify(guard.pin_hash, pin)
            if not ok:
                self.throttle.failed(staff_id)
                self._post_throttle.failed("post")
                log.warning("wrong staff ID or PIN", extra={"staff_id": staff_id[:32]})
                raise SignOnRefused("wrong staff ID or PIN", "员工号或密码错误")
            assert guard is not None
            self.throttle.succeeded(staff_id)
            self._post_throttle.succeeded("post")
            if supervisor and guard.role != "supervisor":
                raise SignOnRefused(f"{guard.staff_id} is not a supervisor", "需要主管授权")
            return guard
