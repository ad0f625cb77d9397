"""Guards: roster, PIN throttle; voice: espeak-ng for real, quiet hours."""

from __future__ import annotations

import wave
from datetime import UTC, datetime, time

import pytest

from edge.console.guards import GuardRoster, PinThrottle, SignOnRefused, hash_pin
from edge.console.voice import Voice, VoiceSettings, fee_sentence, lot_full_sentence
from edge.errors import ConfigError
from edge.lane import messages
from tests.console.conftest import make_roster
from tests.lane.clock import StepClock
from tests.support.services import require


def test_throttle_locks_after_five_and_doubles():
    clock = StepClock()
    throttle = PinThrottle(clock, max_failures=5, lock_s=60)
    for _ in range(4):
        throttle.failed("g001")
    assert throttle.retry_after("g001") is None
    throttle.failed("g001")
    assert throttle.retry_after("g001") == 61 or throttle.retry_after("g001") == 60
    clock.advance(seconds=61)
    assert throttle.retry_after("g001") is None
    for _ in range(5):
        throttle.failed("g001")
    clock.advance(seconds=61)
    assert throttle.retry_after("g001") is not None  # second lock: 120 s
    clock.advance(seconds=60)
    assert throttle.retry_after("g001") is None


def test_pin_brute_force_is_throttled_even_with_the_right_pin(pin_hashes):
    clock = StepClock()
    roster = make_roster(pin_hashes, clock)
    with pytest.raises(SignOnRefused) as err:
        roster.check_pin("g001", "0000")
    assert err.value.zh == "员工号或密码错误" and err.value.retry_after_s is None
    for guess in ("0001", "0002", "0003", "0004"):
        with pytest.raises(SignOnRefused):
            roster.check_pin("g001", guess)
    with pytest.raises(SignOnRefused) as err:
        roster.check_pin("g001", "1234")  # right PIN, but locked
    assert err.value.retry_after_s and "秒后再试" in err.value.zh
    clock.advance(seconds=61)
    assert roster.check_pin("g001", "1234").name == "王强"
    with pytest.raises(SignOnRefused) as err:
        roster.check_pin("g001", "1234", supervisor=True)
    assert err.value.zh == "需要主管授权"
    assert roster.check_pin("s001", "9999", supervisor=True).role == "supervisor"
    assert roster.by_badge("0c0c0c0c0c").staff_id == "g001"
    with pytest.raises(SignOnRefused):
        roster.by_badge("FFFFFFFFFF")


def test_roster_file_refuses_plain_pins(tmp_path):
    good = tmp_path / "guards.toml"
    good.write_text(
        f'[[guard]]\nid = "g9"\nname = "赵"\npin_hash = "{hash_pin("4321")}"\nbadge = "0a0a0a0a0a"\n'
    )
    roster = GuardRoster.load(good, lambda: datetime.now(UTC))
    assert roster.check_pin("g9", "4321").badge == "0A0A0A0A0A"
    bad = tmp_path / "bad.toml"
    bad.write_text('[[guard]]\nid = "g9"\nname = "赵"\npin_hash = "4321"\n')
    with pytest.raises(ConfigError, match="argon2"):
        GuardRoster.load(bad, lambda: datetime.now(UTC))


def test_sentences_are_the_site_rules():
    assert fee_sentence(50, 250, "CNY") == "您的车计费停车50分钟,请交停车费2.50元"
    assert fee_sentence(50, 250, "CNY", "en") == "Parking time 50 min, please pay 2.50 CNY"
    assert lot_full_sentence().startswith("区内暂无车位,请停靠对面车场")


def local_clock(hour: int, minute: int = 0):
    now = datetime.now().astimezone().replace(hour=hour, minute=minute, second=0, microsecond=0)
    return lambda: now.astimezone(UTC)


def test_quiet_hours_across_midnight():
    settings = VoiceSettings(
        quiet_start=time(22, 0), quiet_end=time(7, 0), amplitude=120, quiet_amplitude=40
    )
    assert Voice(settings, local_clock(23, 30)).amplitude_now() == 40
    assert Voice(settings, local_clock(6, 59)).amplitude_now() == 40
    assert Voice(settings, local_clock(7, 0)).amplitude_now() == 120
    assert Voice(settings, local_clock(12, 0)).amplitude_now() == 120
    with pytest.raises(ConfigError):
        VoiceSettings(speed_wpm=5)


def wav_seconds(path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def test_espeak_renders_the_fee_sentence_in_both_languages(tmp_path):
    voice = Voice(VoiceSettings(), local_clock(12))
    require(voice._binary is not None, "espeak-ng")
    zh = voice.render(fee_sentence(50, 250, "CNY"), "zh", tmp_path / "zh.wav")
    en = voice.render(fee_sentence(50, 250, "CNY", "en"), "en", tmp_path / "en.wav")
    assert 1.0 < wav_seconds(zh) < 20 and 1.0 < wav_seconds(en) < 20
    # a sentence starting with "-" is text on stdin, never an espeak-ng option
    assert wav_seconds(voice.render("--help me", "en", tmp_path / "dash.wav")) > 0.2


def test_announce_plays_each_language_and_stays_silent_in_quiet_hours(tmp_path):
    played = tmp_path / "played"
    played.mkdir()
    # The "player" copies each rendered WAV aside: a real subprocess, as aplay would be.
    settings = VoiceSettings(
        player=("cp", "--backup=numbered", "-t", str(played)), quiet_amplitude=0
    )
    day = Voice(settings, local_clock(12))
    require(day._binary is not None, "espeak-ng")
    day.announce(messages.LOT_FULL)
    assert day.wait(20)
    assert len(list(played.iterdir())) == 2  # zh, then en
    assert all(wav_seconds(p) > 1.0 for p in played.iterdir())
    night = Voice(settings, local_clock(23))
    before = len(list(played.iterdir()))
    night.announce(messages.LOT_FULL)
    assert night.wait(20)
    assert len(list(played.iterdir())) == before
