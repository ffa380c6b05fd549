"""Home directories replaced by ``~``."""

from __future__ import annotations

import os
import re

from .engine import _Rule
from .markers import _prev_char

# -- home paths --------------------------------------------------------------------------------
# The lookbehinds sit after the leading '/', so the engine still scans for that literal; they
# keep /srv/home/x and ./home/x (not home directories) and accept file:///home/x. The lookahead
# before them turns away the other slashes of a path first (a quarter of the cost).
_HOME_POSIX = re.compile(
    r"/(?=home/|Users/)(?:(?<=file:///)|(?<![\w./~-]/))(?:home|Users)/(?!~)[\w.@+-]{1,64}"
    r"(?![\w.@+-])"
)
_HOME_ROOT = re.compile(r"/(?:(?<=file:///)|(?<![\w./~-]/))root(?=/|[\s'\":,)\]]|$)")
_HOME_WINDOWS = re.compile(
    r"(?i)[A-Z]:(?:\\\\|\\|/)(?:Users|Documents and Settings)(?:\\\\|\\|/)"
    r"(?!(?:Public|Default|All Users)(?:\\|/|$))[^\\/\s'\":*?<>|]{1,64}(?=\\|/|[\s'\":,)\]]|$)"
)


def _tilde_unless_inside_path(m: re.Match[str]) -> str:
    prev = _prev_char(m)
    inside = bool(prev) and (prev.isalnum() or prev in "_./~-")
    if inside and m.string[max(m.start() - 7, 0) : m.start()] != "file://":
        return m.group(0)  # /srv/home/x, ./home/x: not a home directory
    return "~"


def _tilde_after_non_word(m: re.Match[str]) -> str:
    prev = _prev_char(m)
    return m.group(0) if prev.isalnum() or prev == "_" else "~"


def _tilde(m: re.Match[str]) -> str:
    return "~"


def _home_rules() -> list[_Rule]:
    windows = (":\\users", ":/users", ":\\\\users", ":\\documents and settings")
    return [
        # "~" whatever the match: re.sub rewrites in C (a traceback names the home on every frame)
        _Rule(
            "home",
            _HOME_POSIX,
            _tilde,
            anchors=("/home/", "/Users/"),
            exact_anchors=True,
            fixed="~",
        ),
        _Rule("home", _HOME_ROOT, _tilde, anchors=("/root",), exact_anchors=True),
        _Rule(
            "home",
            _HOME_WINDOWS,
            _tilde_after_non_word,
            triggers=("users", "documents and settings"),
            anchors=windows,
            offset=1,
        ),
    ]


def _home_value_rule() -> _Rule | None:
    home = os.path.expanduser("~")
    if (
        len(home) < 4
        or home == "/root"
        or _HOME_POSIX.fullmatch(home)
        or _HOME_WINDOWS.fullmatch(home)
    ):
        return None
    regex = re.compile(re.escape(home) + r"(?![\w.@+-])")
    return _Rule("home", regex, _tilde_unless_inside_path, anchors=(home,), exact_anchors=True)
