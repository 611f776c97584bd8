"""Every string key a browser module asks for reaches it: a key missing from ``i18n.JS_KEYS`` would be shown to
the user as the key itself (the caller page once said ``caller_sent`` after a photo)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.platform import i18n

JS_DIR = Path(__file__).resolve().parents[3] / "web" / "static" / "js"
# t('key') calls, and js_* keys handed to t() indirectly (e.g. returned by a helper that picks the message).
_CALLED = re.compile(r"""\bt\(\s*['"]([a-z0-9_]+)['"]""")
_JS_KEY = re.compile(r"""['"](js_[a-z0-9_]+)['"]""")


@pytest.mark.parametrize("module", sorted(path.name for path in JS_DIR.glob("*.js")))
def test_every_key_a_module_uses_is_sent_to_the_page(module: str) -> None:
    source = (JS_DIR / module).read_text()
    used = set(_CALLED.findall(source)) | set(_JS_KEY.findall(source))
    assert sorted(used - set(i18n.JS_KEYS)) == []


def test_every_page_string_has_french_and_english() -> None:
    for key in i18n.JS_KEYS:
        assert set(i18n.STRINGS[key]) == set(i18n.SUPPORTED) and all(i18n.STRINGS[key].values()), key
