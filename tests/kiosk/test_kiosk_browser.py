"""The kiosk page in Debian chromium: every category, the photo retake, the printed pass,
hostile input, language and the idle reset."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from edge.wire import EventType
from tests.kiosk.helpers import start_kiosk

pytestmark = pytest.mark.browser


@pytest.fixture
def agent(tmp_path, monkeypatch):
    a = start_kiosk(tmp_path, 1, monkeypatch, connect=False, idle_reset_s=10)
    yield a
    a.stop()


def _decode(agent, event_type: EventType) -> list[dict]:
    """The ``data`` of each ``event_type`` event waiting in the kiosk's outbox (offline here)."""
    out = []
    for row in agent.outbox.pending(1000):
        doc = json.loads(row.payload)
        if doc["type"] == event_type.value:
            out.append(doc["data"])
    return out


def start(page, agent, category: str) -> None:
    page.goto(agent.url)
    page.click(f"#cat-{category}")
    page.click("#consent-yes")


def skip_photo_and_finish(page) -> None:
    page.click("#form-next")
    expect(page.locator("#screen-photo")).to_be_visible()
    page.click("#photo-skip")
    expect(page.locator("#screen-done")).to_be_visible()


def test_guest_with_photo_retake_and_printed_pass(page, agent):
    start(page, agent, "guest")
    page.fill("#f-name", "张三")
    page.fill("#f-phone", "13812345678")
    page.fill("#f-host", "李四")
    page.fill("#f-unit", "3-1201")
    page.fill("#f-party", "2")
    page.click("#form-next")
    agent.camera_source.show_nobody()
    page.click("#photo-take")
    expect(page.locator("#photo-msg")).to_contain_text("没有拍到人脸")
    expect(page.locator("#photo-use")).to_be_hidden()
    agent.camera_source.show_face()
    page.click("#photo-take")
    expect(page.locator("#photo-preview")).to_be_visible()
    page.click("#photo-use")
    expect(page.locator("#screen-done")).to_be_visible()
    expect(page.locator("#done-name")).to_have_text("张三")
    expect(page.locator("#done-printed")).to_contain_text("通行证")
    captured = agent.printer.captured
    assert "张三".encode("gb18030") in captured and "李四".encode("gb18030") in captured
    assert b"\x1d(k" in captured  # the pass QR, printed natively
    assert b"13812345678" not in captured
    (data,) = _decode(agent, EventType.VISITOR_CHECKED_IN)
    assert data["party_size"] == 2 and data["photo"] and data["phone"] == "13812345678"


def test_official_visitor_is_asked_for_the_access_pass(page, agent):
    start(page, agent, "official")
    page.fill("#f-name", "王五")
    page.fill("#f-agency", "市消防支队")
    page.click("#form-next")
    page.click("#photo-skip")
    expect(page.locator("#form-error")).to_contain_text("出入证件号")
    page.fill("#f-pass", "XF-2024-001")
    skip_photo_and_finish(page)
    expect(page.locator("#done-notice")).to_have_text("请向前台出示出入证件。")
    assert _decode(agent, EventType.VISITOR_CHECKED_IN)[0]["pass_number"] == "XF-2024-001"


def test_home_buyer_is_shown_the_sales_office_in_english(page, agent):
    page.goto(agent.url)
    page.click("#lang")
    expect(page.locator("#cat-home_buyer")).to_have_text("Viewing homes for sale")
    page.click("#cat-home_buyer")
    page.click("#consent-yes")
    expect(page.locator("#f-host")).to_be_hidden()
    page.fill("#f-name", "Lee Ann")
    skip_photo_and_finish(page)
    expect(page.locator("#done-directions")).to_contain_text("Sales office at the south gate")
    assert _decode(agent, EventType.VISITOR_CHECKED_IN)[0]["category"] == "home_buyer"


def test_contractor_and_hostile_name_shown_as_text(page, agent):
    start(page, agent, "contractor")
    page.fill("#f-name", "<img src=x onerror=alert(1)>")
    page.fill("#f-company", "顺丰速运")
    page.fill("#f-work-order", "WO-77")
    page.click("#form-next")
    page.click("#photo-skip")
    expect(page.locator("#form-error")).to_contain_text("姓名只能包含")
    assert page.locator("img[src=x]").count() == 0
    page.fill("#f-name", "赵六")
    page.click("#form-next")
    page.click("#photo-skip")
    expect(page.locator("#screen-done")).to_be_visible()
    (data,) = _decode(agent, EventType.VISITOR_CHECKED_IN)
    assert (data["company"], data["work_order"]) == ("顺丰速运", "WO-77")


def test_idle_kiosk_returns_to_the_start_screen_and_forgets_the_form(page, agent):
    start(page, agent, "guest")
    page.fill("#f-name", "张三")
    expect(page.locator("#screen-start")).to_be_visible(timeout=15_000)
    page.click("#cat-guest")
    page.click("#consent-yes")
    expect(page.locator("#f-name")).to_have_value("")
    assert _decode(agent, EventType.VISITOR_CHECKED_IN) == []


def test_check_out_by_showing_the_pass_to_the_camera(page, agent):
    start(page, agent, "guest")
    page.fill("#f-name", "张三")
    page.fill("#f-host", "李四")
    skip_photo_and_finish(page)
    answer = json.loads(agent.store._db.execute("SELECT answer FROM visits").fetchone()[0])
    page.click("#done-ok")
    agent.camera_source.show_qr(answer["pass_qr"])
    page.click("#checkout")
    expect(page.locator("#message")).to_contain_text("离开登记完成")
    assert _decode(agent, EventType.VISITOR_CHECKED_OUT) == [
        {"visit_id": answer["visit_id"], "at_desk": False}
    ]
