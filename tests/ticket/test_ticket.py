"""The Ticket value, serial numbers and the key ring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from edge.errors import ConfigError
from edge.ticket import KeyRing, Ticket, TicketFormatError, new_serial

AT = datetime(2026, 11, 27, 8, 15, 30, 123456, tzinfo=UTC)


def test_entry_time_is_normalised_to_utc_milliseconds() -> None:
    shanghai = timezone(timedelta(hours=8))
    t = Ticket("S1", "site", AT.astimezone(shanghai), "entry-1", "car", 1)
    assert t.entry_at == AT.replace(microsecond=123000)
    assert t.entry_at.tzinfo == UTC


@pytest.mark.parametrize(
    "over",
    [
        {"entry_at": datetime(2026, 1, 1)},
        {"serial": ""},
        {"serial": "X" * 21},
        {"serial": "has space"},
        {"entry_lane": "车道"},
        {"vehicle_class": "c" * 33},
        {"key_id": 70000},
        {"key_id": -1},
    ],
)
def test_bad_ticket_fields_are_refused(over: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "serial": "S1",
        "site": "site",
        "entry_at": AT,
        "entry_lane": "entry-1",
        "vehicle_class": "car",
        "key_id": 1,
    }
    fields.update(over)
    with pytest.raises(TicketFormatError):
        Ticket(**fields)  # type: ignore[arg-type]


def test_serials_are_short_unique_and_sort_by_time() -> None:
    serials = [new_serial("entry-1", AT + timedelta(milliseconds=i)) for i in range(2000)]
    assert len(set(serials)) == len(serials)
    assert serials == sorted(serials)
    assert all(len(s) <= 20 and s.isascii() and s == s.upper() for s in serials)
    assert not set("".join(serials)) & set("ILOU")  # nothing to misread on a receipt


def test_same_millisecond_on_two_lanes_differs() -> None:
    assert new_serial("entry-1", AT)[:12] != new_serial("entry-2", AT)[:12]


def test_serial_needs_an_aware_time() -> None:
    with pytest.raises(TicketFormatError):
        new_serial("entry-1", datetime(2026, 1, 1))


def test_keyring_signs_with_newest_and_verifies_all() -> None:
    ring = KeyRing({1: b"a" * 16, 5: b"b" * 32, 3: b"c" * 20})
    key_id, tag = ring.sign(b"msg")
    assert key_id == 5 and len(tag) * 8 >= 64
    assert ring.verify(5, b"msg", tag)
    assert not ring.verify(5, b"msG", tag)
    assert not ring.verify(1, b"msg", tag)
    assert not ring.verify(42, b"msg", tag)
    assert not ring.verify(5, b"msg", tag[:-1])
    assert not ring.verify(5, b"msg", b"")


def test_keyring_explicit_signing_key() -> None:
    ring = KeyRing({1: b"a" * 16, 2: b"b" * 16}, signing_key_id=1)
    assert ring.sign(b"x")[0] == 1


@pytest.mark.parametrize(
    "keys,signing",
    [({}, None), ({1: b"short"}, None), ({1: b"a" * 16}, 2), ({-1: b"a" * 16}, None)],
)
def test_keyring_bad_config_is_a_config_error(keys: dict[int, bytes], signing: int | None) -> None:
    with pytest.raises(ConfigError):
        KeyRing(keys, signing)


def test_keyring_from_hex_and_no_secret_in_repr() -> None:
    ring = KeyRing.from_hex({"1": "00" * 16, 2: "ab" * 16})
    assert ring.key_ids == {1, 2}
    assert "abab" not in repr(ring) and "0000" not in repr(ring)
    with pytest.raises(ConfigError, match="hex"):
        KeyRing.from_hex({1: "zz" * 16})
    with pytest.raises(ConfigError):
        KeyRing.from_hex({"one": "00" * 16})
