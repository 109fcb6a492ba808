"""Neutral text: a small Markdown subset that every platform renders.

Sentences in the chat layer are written once in this subset: ``**bold**``, ``_italic_``, backquoted ``code``
and ``> `` quoted lines. Anything a person typed or imported (a contact's name, a text, a campaign
title) goes through ``esc`` (or ``bold``/``italic``/``quote``, which escape) so it renders as written.
Icons are Unicode emoji (Discord shows Slack-style ``:shortcodes:`` literally in bot messages).

Discord renders the subset as it is. Slack's adapter converts it to mrkdwn (``**x**`` becomes ``*x*``,
backslash escapes become Slack's ``&amp;``/``&lt;``/``&gt;`` or the bare character).
"""

from __future__ import annotations

import re

# Characters with a meaning in the subset (or in Discord's Markdown): escaped with a backslash.
_SPECIAL = re.compile(r"([\\*_`~|>#\[\]()])")

OK = "✅"
WARN = "⚠️"
NO = "🚫"
INBOX = "📥"
LABEL = "🏷️"
ALARM = "🚨"
MUTE = "🔕"
BACK = "↩️"
WAVE = "👋"
ROCKET = "🚀"
MEMO = "📝"
INFO = "ℹ️"
SPEECH = "💬"
BELL = "🔔"


def esc(text: object) -> str:
    """``text`` as literal characters in neutral text (every special character backslash-escaped)."""
    return _SPECIAL.sub(r"\\\1", str(text))


def bold(text: object) -> str:
    return f"**{esc(text)}**"


def italic(text: object) -> str:
    return f"_{esc(text)}_"


def code(text: object) -> str:
    """A command or value shown as code (backticks in it would end the span: they are dropped)."""
    return "`" + str(text).replace("`", "") + "`"


def quote(text: object) -> str:
    """Every line of ``text`` as a quoted line."""
    return "\n".join("> " + esc(line) for line in str(text).splitlines() or [""])


def plain(text: str) -> str:
    """Neutral text with its markup removed (for plain-text fallbacks and labels)."""
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if text.startswith("**", i):
            i += 2
            continue
        if ch in "`":
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 contact``, ``2 contacts`` (``many`` when the plural is not ``one + 's'``)."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def command_arg(text: str) -> str:
    """A campaign title (or any word) as it must be typed in a command: quoted when it has spaces."""
    return f'"{text}"' if any(c.isspace() for c in text) or not text else text
