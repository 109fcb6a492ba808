"""Neutral markup as Slack mrkdwn (``bot.slack.render.mrkdwn``)."""

from __future__ import annotations

import pytest

from bot.slack.render import mrkdwn


@pytest.mark.parametrize(
    ("neutral", "slack"),
    [
        ("**Send First Texts** - Drive", "*Send First Texts* - Drive"),
        ("Ann <ann@x> & Bob", "Ann &lt;ann@x&gt; &amp; Bob"),
        ("> quoted\nnot > quoted\n>again", "> quoted\nnot &gt; quoted\n>again"),
        ("a \\*literal\\* star and \\\\", "a *literal* star and \\"),
        ("`**not bold** <x>` after", "`**not bold** &lt;x&gt;` after"),
        ("`open code <to the end", "`open code &lt;to the end"),
        ("trailing backslash \\", "trailing backslash \\"),
        ("", ""),
    ],
)
def test_mrkdwn(neutral: str, slack: str) -> None:
    assert mrkdwn(neutral) == slack
