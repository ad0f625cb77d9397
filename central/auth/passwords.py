"""Password hashing with Argon2id (argon2-cffi's recommended defaults).

Hashes carry their own parameters, so raising the cost later only needs
``needs_rehash`` on the next successful login. A minimum length keeps the
first admin from choosing "1234".
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from central.auth.errors import WeakPassword

MIN_LENGTH = 10
MAX_LENGTH = 256

_hasher = PasswordHasher()

# Verified against when the user does not exist, so a wrong username costs the
# same time as a wrong password and usernames cannot be probed by timing.
_DUMMY_HASH = _hasher.hash("gatepost-no-such-user")


def check_strength(password: str) -> None:
    """Raise :class:`WeakPassword` (zh/en) for a password too short or too long."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise WeakPassword(
            f"密码至少 {MIN_LENGTH} 位 / password must have at least {MIN_LENGTH} characters"
        )
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"密码过长 / password longer than {MAX_LENGTH} characters")
    if len(set(password)) < 4:
        raise WeakPassword("密码过于简单 / password is too repetitive")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-effort check; never raises for a bad or missing hash."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
