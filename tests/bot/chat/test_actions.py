"""Neutral actions: ids only, at most 100 characters encoded, read back as written."""

from __future__ import annotations

import pytest

from bot.chat import actions
from bot.chat.actions import Action, ActionTooLong, act


def test_encode_decode_round_trip() -> None:
    action = act(actions.REPLY_SEND, c=12, s="needs_response", m=345)
    assert action.value() == '{"c":12,"s":"needs_response","m":345}'
    back = Action.decode(action.encode())
    assert back == action
    assert back.number("c") == 12 and back.text("s") == "needs_response" and back.maybe_number("x") is None


def test_an_action_longer_than_discords_custom_id_is_refused() -> None:
    with pytest.raises(ActionTooLong):
        act(actions.REPLY_SEND, c=1, b="x" * 100)


def test_garbage_values_read_as_no_arguments() -> None:
    assert actions.parse_value("not json") == {}
    assert actions.parse_value("[1, 2]") == {}
    assert Action.decode("tb_join|{bad").args == {}
