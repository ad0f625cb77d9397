"""The kiosk's pure core: a visitor's form in, a check-in (or a polite refusal) out.

No I/O and no wall clock: the caller passes ``now`` and the block list. The
rules come from the front-desk handbook (来访客人接待):

* guest — host or unit, purpose, party size;
* official (公务) — agency and access-pass number, flagged so the desk asks
  to see the pass (请出示出入证件);
* home buyer (购房看房) — directed to the sales office;
* contractor / delivery — company and work order.

Every text is checked here, so what reaches the outbox, the printer and the
screens is already clean: a hostile name (markup, direction overrides,
emoji, 10 kB) is refused with a message the visitor can act on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from edge.errors import GatepostError
from edge.wire import VisitorBlocked, VisitorBlockEntry, VisitorCheckedIn, format_ts

Category = Literal["guest", "official", "home_buyer", "contractor"]
CATEGORIES: tuple[Category, ...] = ("guest", "official", "home_buyer", "contractor")

NAME_MAX = 50
TEXT_MAX = 100
PURPOSE_MAX = 200
_NAME_PUNCT = frozenset(" ·.'-")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_-]{0,63}$")
_FORBIDDEN_CATEGORIES = ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp")
"""Control, format (bidi overrides, zero-width), private-use, unassigned: never in visitor text."""

NEUTRAL_REFUSAL = (
    "请到前台办理登记,谢谢。",
    "Please see the front desk to complete your visit. Thank you.",
)
"""What a blocked visitor sees: nothing that tells them they are on a list."""

OFFICIAL_NOTICE = ("请向前台出示出入证件。", "Please show your access pass at the front desk.")


class FormError(GatepostError, ValueError):
    """A field the visitor must correct; ``zh``/``en`` are shown on the kiosk."""

    def __init__(self, field_name: str, zh: str, en: str) -> None:
        super().__init__(f"{field_name}: {en}")
        self.field = field_name
        self.zh = zh
        self.en = en


@dataclass(slots=True, frozen=True)
class VisitorForm:
    """What the kiosk page submits (all text raw, as typed)."""

    category: str
    name: str
    phone: str | None = None
    host: str | None = None
    unit: str | None = None
    purpose: str | None = None
    party_size: int | str | None = 1
    agency: str | None = None
    pass_number: str | None = None
    company: str | None = None
    work_order: str | None = None
    consent: bool = False


@dataclass(slots=True, frozen=True)
class CheckIn:
    """An accepted visitor: the event to send and what to tell and print for them."""

    event: VisitorCheckedIn
    desk_check: bool
    directions: tuple[str, str] | None
    notice: tuple[str, str] | None
    expires_at: datetime


@dataclass(slots=True, frozen=True)
class Refused:
    """A blocked visitor: the neutral message and the event that alarms the desk."""

    event: VisitorBlocked
    message: tuple[str, str] = NEUTRAL_REFUSAL


@dataclass(slots=True)
class BlockList:
    """Names and phones not to admit; exact match, case-insensitive, spacing ignored."""

    names: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, entries: Iterable[VisitorBlockEntry]) -> BlockList:
        out = cls()
        for entry in entries:
            if entry.name:
                out.names.add(name_key(entry.name))
            if entry.phone:
                out.phones.add(phone_key(entry.phone))
        return out

    def matches(self, name: str, phone: str | None) -> bool:
        return name_key(name) in self.names or (
            phone is not None and phone_key(phone) in self.phones
        )


def name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def phone_key(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[-11:] if len(digits) > 11 else digits  # +86 138… and 138… are one phone


def clean_text(
    value: object, field_name: str, *, max_len: int, required: bool = False
) -> str | None:
    """``value`` normalised (NFC, trimmed, inner spaces collapsed) or a :class:`FormError`."""
    label_zh, label_en = _LABELS.get(field_name, (field_name, field_name))
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FormError(field_name, f"请填写{label_zh}", f"Please enter the {label_en}")
        return None
    if not isinstance(value, str):
        raise FormError(field_name, f"{label_zh}格式不正确", f"The {label_en} is not text")
    if len(value) > max_len * 4:  # judge a 10 kB paste by its size before normalising it
        raise FormError(
            field_name,
            f"{label_zh}太长(最多{max_len}字)",
            f"The {label_en} is too long (at most {max_len} characters)",
        )
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in text):
        raise FormError(
            field_name,
            f"{label_zh}含有不可见的控制字符,请重新输入",
            f"The {label_en} contains invisible control characters; please retype it",
        )
    if len(text) > max_len:
        raise FormError(
            field_name,
            f"{label_zh}太长(最多{max_len}字)",
            f"The {label_en} is too long (at most {max_len} characters)",
        )
    return text


def clean_name(value: object, field_name: str = "name") -> str:
    """A person's name: letters (any script), combining marks, spaces and · . ' - only."""
    text = clean_text(value, field_name, max_len=NAME_MAX, required=True)
    assert text is not None
    for ch in text:
        if not (ch.isalpha() or unicodedata.category(ch).startswith("M") or ch in _NAME_PUNCT):
            raise FormError(
                field_name,
                "姓名只能包含文字、空格和 · . ' -",
                "A name may contain only letters, spaces and · . ' -",
            )
    return text


def clean_phone(value: object) -> str | None:
    text = clean_text(value, "phone", max_len=24)
    if text is not None and not _PHONE_RE.match(text):
        raise FormError("phone", "手机号码格式不正确", "Please enter a phone number (digits only)")
    return text


def clean_code(value: object, field_name: str, *, required: bool) -> str | None:
    """Pass numbers and work orders: letters, digits, / _ -."""
    text = clean_text(value, field_name, max_len=64, required=required)
    if text is not None and not _CODE_RE.match(text):
        label_zh, label_en = _LABELS[field_name]
        raise FormError(
            field_name,
            f"{label_zh}只能包含字母、数字和 / _ -",
            f"The {label_en} may contain only letters, digits and / _ -",
        )
    return text


def party_size(value: int | str | None) -> int:
    try:
        size = int(value) if value not in (None, "") else 1
    except (TypeError, ValueError):
        size = 0
    if not 1 <= size <= 50:
        raise FormError("party_size", "人数应为 1–50", "Party size must be 1–50")
    return size


def check_in(
    form: VisitorForm,
    *,
    visit_id: str,
    now: datetime,
    blocklist: BlockList,
    pass_hours: float,
    sales_office: str | None,
    invite_id: str | None = None,
    photo: str | None = None,
) -> CheckIn | Refused:
    """Validate ``form`` and decide; raises :class:`FormError` for anything to correct."""
    if form.category not in CATEGORIES:
        raise FormError("category", "请选择来访类别", "Please choose why you are visiting")
    if not form.consent:
        raise FormError(
            "consent",
            "请先阅读并同意个人信息告知",
            "Please read and accept the privacy notice first",
        )
    name = clean_name(form.name)
    phone = clean_phone(form.phone)
    if blocklist.matches(name, phone):
        return Refused(VisitorBlocked(name=name, phone=phone))
    fields: dict[str, object] = {
        "host": clean_name(form.host, "host") if form.host not in (None, "") else None,
        "unit": clean_text(form.unit, "unit", max_len=32),
        "purpose": clean_text(form.purpose, "purpose", max_len=PURPOSE_MAX),
        "party_size": party_size(form.party_size),
    }
    directions = notice = None
    if form.category == "guest" and not (fields["host"] or fields["unit"]):
        raise FormError(
            "host", "请填写被访人或房号", "Please enter who you are visiting, or their unit"
        )
    if form.category == "official":
        fields["agency"] = clean_text(form.agency, "agency", max_len=TEXT_MAX, required=True)
        fields["pass_number"] = clean_code(form.pass_number, "pass_number", required=True)
        notice = OFFICIAL_NOTICE
    elif form.category == "contractor":
        fields["company"] = clean_text(form.company, "company", max_len=TEXT_MAX, required=True)
        fields["work_order"] = clean_code(form.work_order, "work_order", required=True)
    elif form.category == "home_buyer":
        office = sales_office or "售楼处 / Sales office"
        directions = (f"请前往售楼处:{office}", f"Please go to the sales office: {office}")
    expires = now + timedelta(hours=pass_hours)
    event = VisitorCheckedIn(
        visit_id=visit_id,
        category=form.category,
        name=name,
        phone=phone,
        expires_at=format_ts(expires),
        invite_id=invite_id,
        photo=photo,
        **fields,  # type: ignore[arg-type]
    )
    return CheckIn(event, form.category == "official", directions, notice, expires)


def pass_lines(event: VisitorCheckedIn, site_name: str, expires_local: str) -> list[str]:
    """The printed visitor pass (访客通行证): both languages, no phone, no ID number."""
    category = _CATEGORY_NAMES[event.category]
    lines = [
        "访客通行证 Visitor pass",
        site_name,
        f"姓名 Name: {event.name}",
        f"类别 Type: {category[0]} {category[1]}",
    ]
    if event.host or event.unit:
        lines.append(f"被访 Host: {' '.join(x for x in (event.host, event.unit) if x)}")
    if event.company:
        lines.append(f"单位 Company: {event.company}")
    lines.append(f"有效至 Valid until: {expires_local}")
    if event.category == "official":
        lines.append("请出示出入证件 Show your access pass")
    lines.append("离开时请在自助机扫码 Scan at the kiosk when leaving")
    return lines


_CATEGORY_NAMES = {
    "guest": ("访客", "Guest"),
    "official": ("公务", "Official"),
    "home_buyer": ("购房看房", "Home buyer"),
    "contractor": ("施工/送货", "Contractor/delivery"),
}

_LABELS = {
    "name": ("姓名", "name"),
    "phone": ("手机号码", "phone number"),
    "host": ("被访人", "host's name"),
    "unit": ("房号", "unit"),
    "purpose": ("来访事由", "purpose"),
    "agency": ("单位/机关", "agency"),
    "pass_number": ("出入证件号", "access-pass number"),
    "company": ("公司", "company"),
    "work_order": ("工单号", "work order"),
    "party_size": ("人数", "party size"),
}
