"""What the lane says aloud: the fee sentence and the lot-full sentence, through espeak-ng.

:class:`Voice` is the lane's ``Announcer`` port (``say(text)``) and can also
announce a whole :class:`~edge.lane.messages.Message` in the site's languages.
Fixed sentences (lot full, welcome…) may be pre-recorded by the property as
``{clips_dir}/{key}.{zh|en}.wav`` and are played as they are; sentences with
numbers in them (the fee) are synthesised each time. During quiet hours
(local time, e.g. 22:00-07:00 beside a residential block) the voice speaks at
``quiet_amplitude`` or, at 0, not at all: the pole display still shows it.

Text reaches espeak-ng on stdin, never on its command line, so a plate or a
reason that starts with ``-`` can never become an option.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Literal

from edge.errors import ConfigError, DeviceError
from edge.lane import messages
from edge.lane.messages import Message

log = logging.getLogger("gatepost.console.voice")

Language = Literal["zh", "en"]
ESPEAK_VOICES: dict[str, str] = {"zh": "cmn", "en": "en"}


@dataclass(slots=True, frozen=True)
class VoiceSettings:
    """How the lane speaks; every field has a safe default."""

    enabled: bool = True
    languages: tuple[Language, ...] = ("zh", "en")
    """Spoken in this order (the site's default language first)."""
    speed_wpm: int = 150
    amplitude: int = 120
    quiet_start: time | None = time(22, 0)
    quiet_end: time | None = time(7, 0)
    quiet_amplitude: int = 40
    """0 means silent during quiet hours."""
    clips_dir: Path | None = None
    player: tuple[str, ...] = ("aplay", "-q")
    espeak: str = "espeak-ng"

    def __post_init__(self) -> None:
        if not 80 <= self.speed_wpm <= 400:
            raise ConfigError(f"voice speed {self.speed_wpm} wpm: use 80-400")
        for value in (self.amplitude, self.quiet_amplitude):
            if not 0 <= value <= 200:
                raise ConfigError(f"voice amplitude {value}: use 0-200")
        if any(lang not in ESPEAK_VOICES for lang in self.languages):
            raise ConfigError(f"voice languages {self.languages}: use zh and/or en")


def fee_sentence(minutes: int, fee_minor: int, currency: str, language: Language = "zh") -> str:
    """您的车计费停车××分钟,请交停车费××元 — the exit sentence the site rules prescribe."""
    return messages.fee_due(minutes, fee_minor, currency).text(language)


def lot_full_sentence(language: Language = "zh") -> str:
    return messages.LOT_FULL.text(language)


class Voice:
    """Speaks sentences at the lane; renders to WAV files for players and tests."""

    def __init__(self, settings: VoiceSettings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()  # one sentence at a time, in order
        self._binary = shutil.which(settings.espeak)
        self._speaking: threading.Thread | None = None

    # ----------------------------------------------------------------- policy

    def amplitude_now(self) -> int:
        """The amplitude for this moment: normal, or the quiet-hours one."""
        start, end = self.settings.quiet_start, self.settings.quiet_end
        if start is None or end is None:
            return self.settings.amplitude
        now = self._clock().astimezone().time()
        quiet = start <= now < end if start <= end else (now >= start or now < end)
        return self.settings.quiet_amplitude if quiet else self.settings.amplitude

    # ----------------------------------------------------------------- rendering

    def render(
        self, text: str, language: Language, path: str | Path, amplitude: int | None = None
    ) -> Path:
        """Synthesise ``text`` into a WAV file; raise :class:`DeviceError` if espeak-ng fails."""
        if self._binary is None:
            raise DeviceError(f"{self.settings.espeak} is not installed (apt install espeak-ng)")
        text = " ".join(str(text).split())[:500]
        if not text:
            raise DeviceError("nothing to say")
        path = Path(path)
        args = [
            self._binary,
            "-v",
            ESPEAK_VOICES[language],
            "-s",
            str(self.settings.speed_wpm),
            "-a",
            str(self.settings.amplitude if amplitude is None else amplitude),
            "-w",
            str(path),
            "--stdin",
        ]
        try:
            done = subprocess.run(
                args, input=text.encode(), capture_output=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DeviceError(f"espeak-ng failed: {exc}") from exc
        if done.returncode != 0 or not path.exists():
            raise DeviceError(
                f"espeak-ng failed ({done.returncode}): {done.stderr.decode(errors='replace')[:200]}"
            )
        return path

    def clip_for(self, message: Message, language: Language) -> Path | None:
        if self.settings.clips_dir is None:
            return None
        clip = self.settings.clips_dir / f"{message.key}.{language}.wav"
        return clip if clip.is_file() else None

    # ----------------------------------------------------------------- speaking

    def say(self, text: str) -> None:
        """The lane's Announcer port: speak one sentence in its own language (never raises)."""
        language: Language = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"
        self._speak_async([(None, text, language)])

    def announce(self, message: Message) -> None:
        """Speak a message in each configured language, pre-recorded clip first (never raises)."""
        self._speak_async(
            [
                (self.clip_for(message, lang), message.text(lang), lang)
                for lang in self.settings.languages
            ]
        )

    def _speak_async(self, parts: list[tuple[Path | None, str, Language]]) -> None:
        if not self.settings.enabled:
            return
        amplitude = self.amplitude_now()
        if amplitude == 0:
            log.info("quiet hours: not speaking", extra={"text": parts[0][1][:80] if parts else ""})
            return
        thread = threading.Thread(
            target=self._speak, args=(parts, amplitude), name="voice", daemon=True
        )
        self._speaking = thread
        thread.start()

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait until the last announcement has been spoken (for shutdown and tests); False on timeout."""
        thread = self._speaking
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _speak(self, parts: list[tuple[Path | None, str, Language]], amplitude: int) -> None:
        with self._lock:
            for clip, text, language in parts:
                try:
                    if clip is not None:
                        self._play(clip)
                        continue
                    with tempfile.TemporaryDirectory(prefix="gatepost-voice-") as tmp:
                        self._play(self.render(text, language, Path(tmp) / "say.wav", amplitude))
                except DeviceError as exc:
                    log.error("voice failed: %s", exc)

    def _play(self, wav: Path) -> None:
        try:
            subprocess.run(
                [*self.settings.player, str(wav)], capture_output=True, timeout=30, check=True
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise DeviceError(f"audio player {self.settings.player[0]!r} failed: {exc}") from exc
