"""The booth console in Debian's Chromium against simulated lanes: exits, lost cards, refusals."""

from __future__ import annotations

import pytest

from tests.lane.sim import events_of, wait_for

pytestmark = pytest.mark.browser


def open_console(page, post, *, staff: str = "g001", pin: str = "1234"):
    page.goto(post.url + "/")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#sign-on:not([hidden])")
    page.fill("#sign-on-id", staff)
    page.fill("#sign-on-pin", pin)
    page.click("#sign-on-submit")
    page.wait_for_selector("body[data-duty='on']")
    return page


def lane(page, name: str):
    return page.locator(f"article.lane[data-lane='{name}']")


def test_full_exit_with_payment_from_the_keyboard(page, make_post):
    post = make_post()
    sim = post.lanes["exit-1"]
    open_console(page, post)
    assert "g001 王强" in page.text_content("#duty")
    car = post.car_with_ticket("exit-1", 50)
    card = lane(page, "exit-1")
    card.locator(".fee:not([hidden])").wait_for()
    fee_text = card.locator(".fee").text_content()
    assert fee_text.startswith("您的车计费停车") and fee_text.endswith("元")
    assert sim.payments.due is not None and f"{sim.payments.due.fee_minor / 100:.2f}" in fee_text
    assert sim.barrier.state == "closed"
    page.click("#lang-toggle")  # the English form of the same sentence
    assert card.locator(".fee").text_content().startswith("Parking time ")
    page.wait_for_selector(
        "article.lane[data-lane='exit-1'] button[data-action='pay-cash']:not([disabled])"
    )
    page.keyboard.press("1")
    page.keyboard.press("F1")  # confirm cash
    wait_for(lambda: sim.barrier.state == "open", what="barrier open")
    car.drive_through()
    wait_for(lambda: events_of(sim.outbox, "vehicle_exited"), what="vehicle exited")
    paid = events_of(sim.outbox, "payment_confirmed")
    assert len(paid) == 1 and paid[0]["method"] == "cash" and paid[0]["guard"] == "g001 王强"
    assert paid[0]["fee_minor"] == events_of(sim.outbox, "fee_quoted")[0]["fee_minor"]
    printed = post.printer.captured
    assert "停车收费凭证".encode("gb18030") in printed and paid[0]["serial"].encode() in printed
    page.wait_for_selector("#toast.show")
    assert "Paid" in page.text_content("#toast")
    # reprint from the console: a second receipt marked REPRINT
    card.locator("button[data-action='reprint']:not([disabled])").click()
    wait_for(lambda: b"REPRINT" in post.printer.captured, what="reprinted receipt")


def test_lost_card_priced_from_the_plate_then_paid(page, make_post):
    post = make_post()
    sim = post.lanes["exit-1"]
    open_console(page, post)
    car = sim.vehicle()
    car.arrive()
    card = lane(page, "exit-1")
    card.locator("button[data-action='lost-card']:not([disabled])").click()
    page.fill("#action-form input[name='plate']", "粤B12345")
    page.click("#action-submit")
    card.locator(".fee:not([hidden])").wait_for()
    lost = events_of(sim.outbox, "lost_ticket")
    assert len(lost) == 1 and lost[0]["plate"] == "粤B12345" and lost[0]["fee_minor"] > 0
    assert sim.payments.due is not None and sim.payments.due.fee_minor == lost[0]["fee_minor"]
    card.locator("button[data-action='pay-epay']").click()
    page.fill("#action-form input[name='reference']", "WX20260302-0001")
    page.click("#action-submit")
    wait_for(lambda: sim.barrier.state == "open", what="barrier open")
    paid = events_of(sim.outbox, "payment_confirmed")
    assert [(p["serial"], p["method"], p["reference"]) for p in paid] == [
        (lost[0]["serial"], "epay", "WX20260302-0001")
    ]
    assert "粤B12345".encode("gb18030") in post.printer.captured
    car.drive_through()
    wait_for(lambda: sim.barrier.state == "closed", what="barrier closed")


def test_manual_raise_refused_without_a_reason_then_done_with_one(page, make_post):
    post = make_post()
    sim = post.lanes["exit-1"]
    open_console(page, post)
    card = lane(page, "exit-1")
    card.locator("button[data-action='manual-raise']").click()
    page.click("#action-submit")  # empty reason
    page.wait_for_selector("#action-error:not(:empty)")
    assert "请填写原因" in page.text_content("#action-error")
    page.fill("#action-form textarea[name='reason']", "x" * 10_000)
    page.click("#action-submit")
    page.locator("#action-error", has_text="原因过长").wait_for()
    assert sim.barrier.state == "closed" and not events_of(sim.outbox, "manual_raise")
    page.fill("#action-form textarea[name='reason']", "救护车 ambulance")
    page.click("#action-submit")
    wait_for(lambda: sim.barrier.state == "open", what="barrier open")
    raised = events_of(sim.outbox, "manual_raise")
    assert (
        len(raised) == 1
        and raised[0]["reason"] == "救护车 ambulance"
        and raised[0]["by"] == "g001 王强"
    )


def test_actions_need_a_guard_and_a_wrong_pin_is_refused(page, make_post):
    post = make_post()
    page.goto(post.url + "/")
    page.wait_for_selector("body[data-ready='1'][data-duty='off']")
    assert page.locator("button[data-action='manual-raise']").is_disabled()
    page.fill("#sign-on-id", "g001")
    page.fill("#sign-on-pin", "0000")
    page.click("#sign-on-submit")
    page.wait_for_selector("#toast.show.bad")
    assert "员工号或密码错误" in page.text_content("#toast")
    assert page.get_attribute("body", "data-duty") == "off"
