"""``/textbank text NUMBER MESSAGE`` (seed 001): a text with no campaign task, and where its replies go.

The command shows the text with the three routing choices; the click sends it through core.adhoc.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from sqlalchemy.orm import Session

from bot.slack import blocks
from bot.slack.app import SlackDeps
from bot.slack.context import in_session
from bot.slack.modals import load_value
from core import adhoc, orgs
from core.errors import Refused

if TYPE_CHECKING:
    from bot.slack.commands import Ctx

PHONE_WORD = re.compile(r"^[\d()+.\-]+$")
ROUTES = (
    ("open", "Send and open chat now"),
    ("me", "Send; replies come to me"),
    ("anyone", "Send; replies to anyone"),
)


def choices(number: str, body: str) -> list[dict[str, Any]]:
    return [
        blocks.section(f"Text *{blocks.escape(number)}*:\n{blocks.quote(body)}"),
        blocks.actions(
            *[
                blocks.button(
                    label,
                    "tb_adhoc_send",
                    blocks.value(n=number, b=body, r=route),
                    style="primary" if route == "open" else None,
                )
                for route, label in ROUTES
            ],
            block_id="adhoc",
        ),
        blocks.context(
            "Replies to me: the chat is assigned to you when they answer. Anyone: any texter picks it up."
        ),
    ]


async def text_command(ctx: Ctx) -> None:
    if len(ctx.args) < 2:
        raise ctx.usage("text NUMBER MESSAGE")
    words = list(ctx.args)
    number_words = []
    while words and PHONE_WORD.match(words[0]):
        number_words.append(words.pop(0))
    number, body = " ".join(number_words), " ".join(words).strip()
    if not number or not body:
        raise ctx.usage("text NUMBER MESSAGE (e.g. /textbank text (212) 555-0142 Hi, it's Sam)")
    if len(body) > blocks.MAX_DRAFT:
        raise Refused(f"the text is {len(body)} characters: keep it under {blocks.MAX_DRAFT}")
    await ctx.say(f"Text {number}", choices(number, body))


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.action("tb_adhoc_send")
    async def send(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        from bot.slack.conversations import threads_of

        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        data = load_value(action)

        def work(session: Session) -> adhoc.AdhocResult:
            user = orgs.get_user(session, actor.user_id)
            return adhoc.send_adhoc(
                session, user, str(data.get("n", "")), str(data.get("b", "")), str(data.get("r"))
            )

        try:
            result = await in_session(deps.db, work)
        except Refused as exc:
            await respond(text=exc.reason, blocks=blocks.refusal(exc.reason), replace_original=True)
            return
        where = {
            "open": "the chat is open in your DM",
            "me": "replies come to you",
            "anyone": "replies go to anyone",
        }
        await respond(
            text=f"Sent to {result.masked_cell}: {where[result.route]}.",
            blocks=[
                blocks.section(f":white_check_mark: Sent to {result.masked_cell}: {where[result.route]}.")
            ],
            replace_original=True,
        )
        if result.assigned:
            await threads_of(deps).sync(actor.slack_user_id, actor.user_id, result.contact_id)
