"""Block Kit rendering: pure functions from core results to Slack blocks (no I/O, no decisions).

Action ids start with ``tb_``; a button's value carries what the click needs (ids and the state the
texter saw) as compact JSON, so a stale or repeated click is judged by core, not by the adapter.
Texters only ever see masked numbers: cells reach these functions already masked by core.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from core.conversations import ConversationView, MessageView
from core.sending import InitialCard
from core.stats import CampaignStats, ReviewRow, TexterCounts

Block = dict[str, Any]

ADMIN_HELP = (
    ("campaign new", "create a campaign in a form (title, description, initial script, hours)"),
    ("campaign apply", "create or update a campaign from a YAML file"),
    ("campaign list", "the organization's campaigns"),
    ("contacts CAMPAIGN", "upload a contacts CSV into a campaign"),
    ("launch CAMPAIGN", "start sending"),
    ("archive CAMPAIGN", "end a campaign for good"),
    ("settings CAMPAIGN", "assignment settings: dynamic assignment, batch sizes, maximum per texter"),
    ("link initials|replies CAMPAIGN [TEAM]", "post a join message with its button in this channel"),
    ("stats CAMPAIGN", "progress of a campaign"),
    ("texters CAMPAIGN", "texters with their unsent and unhandled counts, and a release button each"),
    ("review CAMPAIGN FILTER [@texter]", "message review (needs-first-message, needs-response, ...)"),
    ("export CAMPAIGN", "the contacts as CSV with their answers and tags, uploaded into this channel"),
    ("optout NUMBER", "add a number to the organization's opt-out list"),
    ("admin add @user", "make someone an admin"),
)
TEXTER_HELP = (
    ("text NUMBER MESSAGE", "text a number outside any campaign, then choose where its replies go"),
    ("done", "Done for the Day: hand back every text you have not sent or answered"),
    ("help", "this list"),
)


def value(**data: Any) -> str:
    """A button value holding ``data`` (Slack allows 2000 characters)."""
    return json.dumps(data, separators=(",", ":"))


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def button(text: str, action_id: str, val: str = "", style: str | None = None, **extra: Any) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75]},
        "action_id": action_id,
    }
    if val:
        element["value"] = val
    if style:
        element["style"] = style
    element.update(extra)
    return element


def actions(*elements: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = block_id
    return block


def escape(text: str) -> str:
    """Slack's three control characters, so names and texts from contacts render as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote(text: str) -> str:
    return "\n".join("> " + line for line in escape(text).splitlines() or [""])


def help_blocks(is_admin: bool) -> list[Block]:
    lines = [f"`/textbank {cmd}` {what}" for cmd, what in TEXTER_HELP]
    blocks = [section("*textbank* — texting from Slack.\n" + "\n".join(lines))]
    if is_admin:
        blocks.append(
            section("*Admin commands*\n" + "\n".join(f"`/textbank {c}` {w}" for c, w in ADMIN_HELP))
        )
    else:
        blocks.append(context("Admins see more commands here."))
    return blocks


def refusal(reason: str) -> list[Block]:
    return [section(f":no_entry_sign: {escape(reason)}")]


def progress_bar(percent: float, width: int = 20) -> str:
    filled = max(0, min(width, round(percent / 100 * width)))
    return "█" * filled + "░" * (width - filled)


def join_message(title: str, kind: str, team: str | None, token: str) -> list[Block]:
    what = "send first texts" if kind == "initials" else "answer replies"
    team_text = f" with team *{escape(team)}*" if team else ""
    return [
        section(f":wave: Help *{escape(title)}*: click to join and {what}{team_text}."),
        actions(button("Join", "tb_join", value(t=token), style="primary")),
    ]


def stats_blocks(title: str, stats: CampaignStats) -> list[Block]:
    bar = progress_bar(stats.sent_percent)
    return [
        section(f"*{escape(title)}*\n`{bar}` {stats.sent_percent:.0f}% sent"),
        section(
            f"Contacts: *{stats.contacts}*\n"
            f"Needs first message: {stats.needs_message} ({stats.needs_message_unassigned} unassigned)\n"
            f"Messaged: {stats.messaged}   Needs response: {stats.needs_response}   Conversations: "
            f"{stats.convo}\nClosed: {stats.closed}   Opted out: {stats.opted_out}   "
            f"Escalated: {stats.escalated}"
        ),
    ]


def texters_blocks(campaign_id: int, title: str, rows: Sequence[TexterCounts]) -> list[Block]:
    blocks = [section(f"*Texters of {escape(title)}*")]
    if not rows:
        blocks.append(context("No texters yet: post a join message with `/textbank link initials CAMPAIGN`."))
    for row in rows[:45]:
        cap = f", maximum {row.max_initials}" if row.max_initials is not None else ""
        text = (
            f"*{escape(row.name)}*: {row.unsent_initials} unsent, {row.unhandled_replies} unhandled replies, "
            f"{row.total_assigned} assigned{cap}"
        )
        block = section(text)
        if row.unsent_initials:
            block["accessory"] = button(
                "Release unsent", "tb_release_texter", value(c=campaign_id, u=row.user_id), style="danger"
            )
        blocks.append(block)
    if len(rows) > 45:
        blocks.append(context(f"… and {len(rows) - 45} more"))
    return blocks


def review_blocks(
    campaign_id: int,
    title: str,
    status: str | None,
    texter: tuple[int, str] | None,
    rows: Sequence[ReviewRow],
) -> list[Block]:
    who = f" assigned to {escape(texter[1])}" if texter else ""
    label = (status or "all").replace("_", " ")
    blocks = [section(f"*Review of {escape(title)}*: {label}{who} ({len(rows)} shown)")]
    lines = []
    for row in rows:
        holder = escape(row.assigned_name) if row.assigned_name else "unassigned"
        flags = " opted out" if row.opted_out else ""
        flags += " escalated" if row.escalated else ""
        name = escape(f"{row.first_name} {row.last_name}".strip() or "(no name)")
        lines.append(f"{row.cell} {name} — {row.status.replace('_', ' ')}, {holder}{flags}")
    if lines:
        blocks.append(section("\n".join(lines)))
        blocks.append(
            actions(
                button(
                    "Unassign all matching",
                    "tb_review_unassign",
                    value(c=campaign_id, s=status, u=texter[0] if texter else None),
                    style="danger",
                    confirm={
                        "title": {"type": "plain_text", "text": "Unassign?"},
                        "text": {
                            "type": "plain_text",
                            "text": "Every assigned contact matching goes back to the pool.",
                        },
                        "confirm": {"type": "plain_text", "text": "Unassign"},
                        "deny": {"type": "plain_text", "text": "Cancel"},
                    },
                )
            )
        )
    else:
        blocks.append(context("Nothing matches."))
    return blocks


def campaign_list_blocks(items: Iterable[tuple[int, str, str, int]]) -> list[Block]:
    lines = [
        f"`{cid}` *{escape(title)}* — {status}, {contacts} contacts" for cid, title, status, contacts in items
    ]
    return [section("\n".join(lines) if lines else "No campaigns yet: `/textbank campaign new`.")]


# --- texters: Send First Texts card ------------------------------------------------------------------------


def initial_card(title: str, card: InitialCard, note: str = "") -> list[Block]:
    """One contact and the rendered initial with **Send** (the value names the contact and its state)."""
    name = escape(card.contact_name or "(no name)")
    local = f"{card.local_time:%H:%M} {card.timezone}"
    out: list[Block] = []
    if note:
        out.append(context(note))
    out += [
        section(f"*Send First Texts — {escape(title)}*\n*{name}* {card.masked_cell} · their time {local}"),
        section(quote(card.body)),
        actions(
            button(
                "Send",
                "tb_send_initial",
                value(
                    c=card.contact_id, s=card.expected_status, k=card.campaign_id, n=card.contact_name[:60]
                ),
                style="primary",
            ),
            block_id="initial",
        ),
        context(f"{card.remaining} left to send now, this one included"),
    ]
    return out


def batch_done(
    campaign_id: int, title: str, can_request: bool, reason: str | None, note: str = ""
) -> list[Block]:
    """The card when the batch is sent: **Request More** (or why not) and **Done For Now**."""
    out: list[Block] = []
    if note:
        out.append(context(note))
    out.append(section(f"*{escape(title)}*: you have sent every text of your batch that can go now."))
    buttons = []
    if can_request:
        buttons.append(button("Request More", "tb_request_more", value(k=campaign_id), style="primary"))
    else:
        out.append(context(f"Request More is unavailable: {escape(reason or 'nothing to request')}"))
    buttons.append(button("Done For Now", "tb_done_for_now", value(k=campaign_id)))
    out.append(actions(*buttons, block_id="batch"))
    return out


def done_for_now_blocks(title: str, unsent: int, replies: int, note: str = "") -> list[Block]:
    out: list[Block] = [context(note)] if note else []
    out.append(
        section(
            f"*{escape(title)}*: done for now. You still hold {unsent} unsent first texts and {replies} "
            "unhandled replies; pick up again from the textbank Home tab."
        )
    )
    return out


def send_note(sent: bool, name: str, reason: str | None) -> str:
    if sent:
        return f":white_check_mark: Sent to {escape(name or 'the contact')}."
    return f":warning: Not sent: {escape(reason or 'nothing to send')}"


# --- conversation threads ----------------------------------------------------------------------------------

MAX_DRAFT = 1600  # what fits in a button value with its JSON escaping; longer texts are split by carriers


def thread_parent(view: ConversationView) -> tuple[str, list[Block]]:
    name = escape(view.contact_name or "(no name)")
    text = f"Conversation with {view.contact_name or 'a contact'} ({view.cell}) — {view.campaign_title}"
    return text, [
        section(f":speech_balloon: *{name}* {view.cell}\n_{escape(view.campaign_title)}_"),
        context("Their texts and yours appear in this thread; answer with the controls at the bottom."),
    ]


def thread_line(message: MessageView, contact_name: str, texter_id: int) -> str:
    if message.direction == "in":
        media = (
            f" (+{len(message.media)} attachment{'s' if len(message.media) > 1 else ''})"
            if message.media
            else ""
        )
        return f"*{escape(contact_name or 'Contact')}*: {escape(message.body)}{media}"
    who = "You" if message.user_id == texter_id else "Sent"
    failed = " :warning: _not delivered_" if message.status in ("failed", "undelivered") else ""
    return f"*{who}*: {escape(message.body)}{failed}"


def _option(text: str, val: str) -> Block:
    return {"type": "option", "text": {"type": "plain_text", "text": (text or "-")[:75]}, "value": val[:150]}


def control_message(
    view: ConversationView, draft: str = "", note: str = "", adhoc: bool = False
) -> list[Block]:
    """The thread's control: the current question as a select, the reply to send, Send / Edit, the menu."""
    c = view.contact_id
    out: list[Block] = []
    if note:
        out.append(context(note))
    for line in view.notes:
        out.append(context(f":information_source: {escape(line)}"))
    answered = "\n".join(f"• {escape(q)} → *{escape(a)}*" for q, a in view.answers)
    status = view.status.replace("_", " ")
    out.append(section(f"Status: *{status}*" + (f"\n{answered}" if answered else "")))
    if view.question is not None and view.question.options:
        question = view.question
        select_el: Block = {
            "type": "static_select",
            "action_id": "tb_answer",
            "placeholder": {"type": "plain_text", "text": "Their answer"},
            "options": [
                _option(o.answer, value(c=c, q=question.step_id, a=o.step_id)) for o in question.options[:100]
            ],
        }
        chosen = next((o for o in question.options if o.step_id == question.chosen_step_id), None)
        if chosen is not None:
            select_el["initial_option"] = _option(
                chosen.answer, value(c=c, q=question.step_id, a=chosen.step_id)
            )
        block = section(f"*{escape(question.question)}*")
        block["accessory"] = select_el
        out.append(block)
    elif not view.answers and view.status in ("needs_response", "convo"):
        out.append(context("No survey question for this conversation."))
    draft = draft[:MAX_DRAFT]
    if view.can_reply:
        if draft:
            out.append(section("*Reply*\n" + quote(draft)))
        else:
            out.append(
                context("Pick their answer to fill in the prepared reply, choose a canned response, or Edit.")
            )
        buttons = []
        if draft:
            buttons.append(
                button(
                    "Send",
                    "tb_reply_send",
                    value(c=c, s=view.status, m=view.last_message_id or 0, b=draft),
                    style="primary",
                )
            )
        buttons.append(button("Edit", "tb_reply_edit", value(c=c, b=draft)))
        out.append(actions(*buttons, _menu(view, adhoc), block_id="reply"))
    else:
        out.append(actions(_menu(view, adhoc), block_id="reply"))
    return out


def _menu(view: ConversationView, adhoc: bool) -> Block:
    c = view.contact_id
    groups = []
    if view.canned_responses and view.can_reply:
        groups.append(
            (
                "Canned responses",
                [_option(r.title, value(c=c, x="canned", i=r.id)) for r in view.canned_responses[:30]],
            )
        )
    tags = [t for t in view.tags if not t.applied][:30]
    if tags:
        groups.append(
            (
                "Tag",
                [
                    _option(("Escalate: " if t.is_escalation else "") + t.name, value(c=c, x="tag", i=t.id))
                    for t in tags
                ],
            )
        )
    conversation = [_option("Escalate to an admin", value(c=c, x="escalate"))]
    if not view.opted_out:
        conversation.append(_option("Opt out", value(c=c, x="optout")))
    conversation.append(_option("Complete the chat" if adhoc else "Close", value(c=c, x="close")))
    groups.append(("Conversation", conversation))
    return {
        "type": "static_select",
        "action_id": "tb_menu",
        "placeholder": {"type": "plain_text", "text": "More…"},
        "option_groups": [
            {"label": {"type": "plain_text", "text": label}, "options": opts} for label, opts in groups
        ],
    }


def edit_modal(contact_id: int, draft: str, meta: str) -> Block:
    return {
        "type": "modal",
        "callback_id": "tb_reply_edit",
        "title": {"type": "plain_text", "text": "Edit reply"},
        "submit": {"type": "plain_text", "text": "Use this text"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": meta,
        "blocks": [
            {
                "type": "input",
                "block_id": "body",
                "label": {"type": "plain_text", "text": "Reply"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "v",
                    "multiline": True,
                    "max_length": MAX_DRAFT,
                    **({"initial_value": draft} if draft else {}),
                },
            }
        ],
    }


def notice_text(kind: str, payload: dict[str, Any]) -> str:
    """A notice that is not a thread message, as one line for the texter's DM."""
    title = escape(str(payload.get("campaign_title") or "your campaign"))
    if kind == "released":
        by = f" by {escape(str(payload['by']))}" if payload.get("by") else ""
        return (
            f":leftwards_arrow_with_hook: {payload.get('total', 0)} of your contacts in *{title}* "
            f"were released{by} "
            f"({payload.get('initials', 0)} unsent, {payload.get('replies', 0)} unhandled replies); "
            "they are back in the pool."
        )
    if kind == "assigned":
        by = f" by {escape(str(payload['by']))}" if payload.get("by") else ""
        return (
            f":inbox_tray: You were given {payload.get('initials', 0)} first texts to send in *{title}*{by}."
        )
    if kind == "failed":
        return f":warning: A text was not delivered: {escape(str(payload.get('reason') or 'unknown error'))}"
    if kind == "escalated":
        who = escape(str(payload.get("contact_name") or payload.get("masked_cell") or "a contact"))
        return (
            f":rotating_light: {escape(str(payload.get('by') or 'A texter'))} escalated *{who}* in *{title}*."
        )
    text = payload.get("text") or payload.get("body") or ""
    return f"{kind.replace('_', ' ')}: {escape(str(text))}" if text else kind.replace("_", " ")
