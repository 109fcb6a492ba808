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


def test_a_click_value_textbank_did_not_render_reads_as_no_arguments() -> None:
    from bot.slack.render import clicked_action

    forged = clicked_action({"action_id": actions.REPLY_SEND, "value": '{"c": 1, "b": "' + "x" * 200 + '"}'})
    assert forged == Action(actions.REPLY_SEND)
    option = {"action_id": actions.MENU, "selected_option": {"value": '{"c":5,"x":"close"}'}}
    assert clicked_action(option) == act(actions.MENU, c=5, x="close")
