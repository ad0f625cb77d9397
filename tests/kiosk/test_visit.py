"""The kiosk's pure core: categories, hostile text, the block list, passes and invites."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge.kiosk.passes import PassError, sign_pass, verify_pass
from edge.kiosk.visit import (
    BlockList,
    CheckIn,
    FormError,
    Refused,
    VisitorForm,
    check_in,
    pass_lines,
)
from edge.wire import Invite, InviteError, VisitorBlockEntry, sign_invite, verify_invite

NOW = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
KEY = b"k" * 32


def run(form: VisitorForm, blocklist: BlockList | None = None) -> CheckIn | Refused:
    return check_in(
        form,
        visit_id="01900000-0000-7000-8000-000000000001",
        now=NOW,
        blocklist=blocklist or BlockList(),
        pass_hours=8,
        sales_office="南门 South gate",
    )


def test_each_category_needs_its_own_fields():
    guest = run(VisitorForm("guest", "张三", host="李四", consent=True, party_size="2"))
    assert isinstance(guest, CheckIn) and guest.event.party_size == 2 and not guest.desk_check
    assert guest.event.expires_at == "2026-03-05T10:00:00.000Z"
    official = run(
        VisitorForm("official", "王五", agency="市消防支队", pass_number="XF-001", consent=True)
    )
    assert isinstance(official, CheckIn) and official.desk_check and official.notice is not None
    buyer = run(VisitorForm("home_buyer", "Lee Ann", consent=True))
    assert isinstance(buyer, CheckIn) and "南门 South gate" in buyer.directions[1]
    worker = run(
        VisitorForm("contractor", "赵六", company="顺丰", work_order="WO-77", consent=True)
    )
    assert isinstance(worker, CheckIn) and worker.event.work_order == "WO-77"
    for form, field in [
        (VisitorForm("guest", "张三", consent=True), "host"),
        (VisitorForm("official", "王五", agency="x", consent=True), "pass_number"),
        (VisitorForm("contractor", "赵六", company="顺丰", consent=True), "work_order"),
        (VisitorForm("guest", "张三", host="李四"), "consent"),
        (VisitorForm("vip", "张三", consent=True), "category"),
        (VisitorForm("guest", "张三", host="李四", party_size="99", consent=True), "party_size"),
        (VisitorForm("guest", "张三", host="李四", phone="call me", consent=True), "phone"),
    ]:
        with pytest.raises(FormError) as err:
            run(form)
        assert err.value.field == field and err.value.zh and err.value.en


@pytest.mark.parametrize(
    "name", ["<script>alert(1)</script>", "ab\u202ecd", "x" * 10_000, "Bob 😀", "", "a\u200bb"]
)
def test_hostile_names_are_refused_with_a_message(name):
    with pytest.raises(FormError) as err:
        run(VisitorForm("guest", name, host="李四", consent=True))
    assert err.value.field == "name" and err.value.en


def test_free_text_keeps_markup_as_text_but_never_control_characters():
    ok = run(VisitorForm("guest", "张三", host="李四", purpose="<b>送文件</b>", consent=True))
    assert isinstance(ok, CheckIn) and ok.event.purpose == "<b>送文件</b>"
    with pytest.raises(FormError):
        run(VisitorForm("guest", "张三", host="李四", purpose="a\x1b[2Jb", consent=True))


def test_block_list_matches_name_or_phone_exactly_ignoring_case_and_spacing():
    blocks = BlockList.of(
        [VisitorBlockEntry(name="Mallory  Smith"), VisitorBlockEntry(phone="+86 139-0000-1111")]
    )
    assert isinstance(
        run(VisitorForm("guest", "mallory smith", host="x", consent=True), blocks), Refused
    )
    refused = run(
        VisitorForm("guest", "Someone", phone="13900001111", host="x", consent=True), blocks
    )
    assert (
        isinstance(refused, Refused)
        and "front desk" in refused.message[1]
        and "block" not in refused.message[1].lower()
    )
    assert isinstance(
        run(VisitorForm("guest", "Mallory Smit", host="x", consent=True), blocks), CheckIn
    )


def test_pass_lines_carry_name_host_and_expiry_but_no_phone():
    ok = run(
        VisitorForm(
            "official",
            "王五",
            phone="13812345678",
            agency="市消防支队",
            pass_number="XF-001",
            host="物业",
            consent=True,
        )
    )
    lines = pass_lines(ok.event, "阳光花园", "2026-03-05 18:00")
    text = "\n".join(lines)
    assert (
        "王五" in text
        and "物业" in text
        and "2026-03-05 18:00" in text
        and "请出示出入证件" in text
    )
    assert "13812345678" not in text and "XF-001" not in text


def test_pass_qr_is_bound_to_its_site_and_key():
    qr = sign_pass("01900000-0000-7000-8000-000000000001", "north", 1, KEY)
    assert verify_pass(qr, "north", {1: KEY}) == "01900000-0000-7000-8000-000000000001"
    for text, site in [
        (qr, "south"),
        (qr[:-2] + "AA", "north"),
        ("hello", "north"),
        (qr.replace("GPP1.1", "GPP1.2"), "north"),
    ]:
        with pytest.raises(PassError):
            verify_pass(text, site, {1: KEY})


def test_invite_is_valid_only_for_its_site_and_day():
    qr = sign_invite(
        Invite(invite_id="inv-00000001", site="north", day="2026-03-05", name="Grace"), KEY
    )
    assert verify_invite(qr, {1: KEY}, site="north", today="2026-03-05").name == "Grace"
    for kwargs, reason in [
        ({"site": "south", "today": "2026-03-05"}, "wrong_site"),
        ({"site": "north", "today": "2026-03-06"}, "wrong_day"),
    ]:
        with pytest.raises(InviteError) as err:
            verify_invite(qr, {1: KEY}, **kwargs)
        assert err.value.reason == reason
    with pytest.raises(InviteError) as err:
        verify_invite(qr, {1: b"z" * 32}, site="north", today="2026-03-05")
    assert err.value.reason == "forged"
    with pytest.raises(InviteError) as err:
        verify_invite("GPI1.!!!.xx", {1: KEY}, site="north", today="2026-03-05")
    assert err.value.reason == "malformed"
