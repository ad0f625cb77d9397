"""The browser tests (and a kiosk screen) need a Chinese font, or zh-CN text renders as empty boxes."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.services import require

pytestmark = pytest.mark.browser


def test_a_simplified_chinese_font_is_installed():
    """fontconfig (what Chromium uses on Linux) has a font covering zh-CN: .ci/run installs fonts-noto-cjk."""
    require(shutil.which("fc-list") is not None, "fontconfig (fc-list)")
    families = subprocess.run(
        ["fc-list", ":lang=zh-cn", "family"], check=True, capture_output=True, text=True, timeout=30
    ).stdout.split()
    require(bool(families), "a Chinese font (apt-get install fonts-noto-cjk)")
