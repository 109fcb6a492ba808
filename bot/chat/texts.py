"""Every sentence a texter or admin reads, and the neutral views made of them: written once.

Pure functions from core results to ``Message`` values (no I/O, no decisions about what happens: the
flows decide, these say it). Text is neutral markup (``bot.chat.markup``); anything a person typed or
imported is escaped. Texters only ever see masked numbers: cells reach these functions masked by core.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.chat import actions as A
from bot.chat.actions import act
from bot.chat.markup import (
    ALARM,
    BACK,
    BELL,
    INBOX,
    INFO,
    LABEL,
    MEMO,
    MUTE,
    NO,
    OK,
    ROCKET,
    SPEECH,
    WARN,
    WAVE,
    bold,
    code,
    command_arg,
    esc,
    italic,
    plain,
    plural,
    quote,
)
from bot.chat.surface_refs import MessageRef
from bot.chat.views import (
    Button,
    Confirm,
    Controls,
    Divider,
    Form,
    Header,
    Kind,
    Link,
    LinkList,
    Message,
    Note,
    Option,
    OptionGroup,
    Section,
    Select,
    TextField,
    text_message,
)
from core.conversations import ConversationView, MessageView
from core.dashboard import AdminDashboard, WaitingConversation
from core.optouts import OptOutPage
from core.sending import InitialCard
from core.stats import CampaignStats, ReviewRow, TexterCounts

# What an SMS body may hold (core refuses a longer send); the edit form stops there too.
MAX_REPLY = 1600
MAX_LISTED = 45

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
    ("texters CAMPAIGN", "texters with their counts, and assign, maximum and release for each"),
    ("assign CAMPAIGN @texter N", "give a texter N first texts (while dynamic assignment is off)"),
    ("max CAMPAIGN @texter N|none", "a texter's own maximum of contacts held"),
    ("review CAMPAIGN FILTER [@texter]", "message review (needs-first-message, needs-response, ...)"),
    ("export CAMPAIGN", "the contacts as CSV with their answers and tags, uploaded into this channel"),
    ("optout add NUMBER", "add a number to the organization's opt-out list"),
    ("optout list [PAGE]", "the organization's opt-out list"),
    ("admin add @user", "make someone an admin"),
    ("connect [CODE]", "a one-time code that links another Slack workspace or Discord server, or enter one"),
)
TEXTER_HELP = (
    ("text NUMBER MESSAGE", "text a number outside any campaign, then choose where its replies go"),
    ("done", "Done for the Day: hand back every text you have not sent or answered"),
    ("help", "this list"),
)
ROUTE_LABELS = (
    ("open", "Send and open chat now"),
    ("me", "Send; replies come to me"),
    ("anyone", "Send; replies to anyone"),
)
ROUTE_SENT = {
    "open": "the chat is open in your DM",
    "me": "replies come to you",
    "anyone": "replies go to anyone",
}


def _msg(kind: Kind, *parts: Any, summary: str) -> Message:
    return Message(kind, summary, tuple(p for p in parts if p is not None))


def cmd(text: str) -> str:
    """A ``/textbank`` command as code, to copy and paste."""
    return code(f"/textbank {text}")


def campaign_cmd(command: str, title: str) -> str:
    """``/textbank COMMAND "Title"``: the title quoted when it has spaces, so pasting it works."""
    return cmd(f"{command} {command_arg(title)}")


def who(name: str, masked_cell: str) -> str:
    """A contact as a texter may see them: first name and masked number."""
    first = (name or "").split(" ")[0]
    return f"{bold(first)} ({esc(masked_cell)})" if first else esc(masked_cell or "a contact")


# --- general ---


def refusal(reason: str) -> Message:
    return _msg("refusal", Section(f"{NO} {esc(reason)}"), summary=reason)


def confirmation(text: str) -> Message:
    return text_message("confirmation", text)


def info(text: str) -> Message:
    return text_message("info", text)


def usage(text: str) -> str:
    return f"usage: /textbank {text} (see /textbank help)"


def unknown_command(name: str) -> str:
    return f"unknown command {name!r}: see /textbank help for the list"


NUL_REFUSAL = "textbank cannot keep the NUL character (\\x00) in a text: remove it and try again"
FAILED = "textbank could not do that (the error is in its log): try again, or tell an admin"
LIST_LIMIT = 25  # lines one listing shows


def listing(title: str, lines: list[str], total: int | None = None) -> Message:
    """A list: at most ``LIST_LIMIT`` lines and 3,900 characters, then how many more there are."""
    shown: list[str] = []
    size = 0
    for line in lines[:LIST_LIMIT]:
        if size + len(line) + 1 > 3900:
            break
        shown.append(line)
        size += len(line) + 1
    more = (total if total is not None else len(lines)) - len(shown)
    if more > 0:
        shown.append(f"… and {more} more")
    return info(bold(title) + "\n" + ("\n".join(shown) or "nothing yet"))


def help_message(is_admin: bool, platform_name: str, admin_extra: Sequence[tuple[str, str]] = ()) -> Message:
    """The commands a person may use; ``admin_extra``: a platform's own admin commands."""
    lines = [f"{cmd(c)} {esc(w)}" for c, w in TEXTER_HELP]
    parts: list[Any] = [
        Section(f"{bold('textbank')} — texting from {esc(platform_name)}.\n" + "\n".join(lines))
    ]
    if is_admin:
        admin = [*ADMIN_HELP, *admin_extra]
        parts.append(
            Section(bold("Admin commands") + "\n" + "\n".join(f"{cmd(c)} {esc(w)}" for c, w in admin))
        )
    else:
        parts.append(Note("Admins see more commands here."))
    return _msg("info", *parts, summary="textbank commands")


def progress_bar(percent: float, width: int = 20) -> str:
    filled = max(0, min(width, round(percent / 100 * width)))
    return "█" * filled + "░" * (width - filled)


# --- admins ---


def join_message(title: str, kind: str, team: str | None, token: str) -> Message:
    what = "send first texts" if kind == "initials" else "answer replies"
    team_text = f" with team {bold(team)}" if team else ""
    return _msg(
        "info",
        Section(f"{WAVE} Help {bold(title)}: click to join and {what}{team_text}."),
        Controls((Button("Join", act(A.JOIN, t=token), style="primary"),)),
        summary=f"Join {title}",
    )


def join_posted(title: str) -> Message:
    return confirmation(f"Posted the join message for {bold(title)}.")


def join_not_posted(error: str) -> str:
    return f"could not post the join message here ({error}): invite textbank to this channel"


def launched(title: str) -> Message:
    return _msg(
        "confirmation",
        Section(
            f"{ROCKET} {bold(title)} is launched. Post a join message with "
            f"{cmd('link initials ' + command_arg(title))}."
        ),
        summary=f"Launched {title}.",
    )


def archived(title: str) -> Message:
    return _msg("confirmation", Section(f"{bold(title)} is archived."), summary=f"Archived {title}.")


def stats_message(title: str, stats: CampaignStats) -> Message:
    return _msg(
        "info",
        Section(
            f"{bold(title)}\n{code(progress_bar(stats.sent_percent))} {stats.sent_percent:.0f}% "
            f"({esc(stats.percent_basis)})"
        ),
        Section(
            f"Contacts: {bold(stats.contacts)}\n"
            f"Needs first message: {stats.needs_message} ({stats.needs_message_unassigned} unassigned)\n"
            f"Messaged: {stats.messaged}   Needs response: {stats.needs_response}   Conversations: "
            f"{stats.convo}\nClosed: {stats.closed}   Opted out: {stats.opted_out} (counted apart)   "
            f"Escalated: {stats.escalated}"
        ),
        summary=f"{title}: {stats.sent_percent:.0f}% sent",
    )


def texters_message(campaign_id: int, title: str, rows: Sequence[TexterCounts]) -> Message:
    parts: list[Any] = [Section(f"{bold('Texters of ' + title)}")]
    if not rows:
        parts.append(
            Note(f"No texters yet: post a join message with {campaign_cmd('link initials', title)}.")
        )
    for row in rows[:MAX_LISTED]:
        cap = f", maximum {row.max_initials}" if row.max_initials is not None else ""
        text = (
            f"{bold(row.name)}: {row.unsent_initials} unsent, "
            f"{plural(row.unhandled_replies, 'unhandled reply', 'unhandled replies')}, "
            f"{row.total_assigned} assigned{cap}"
        )
        choices = [
            Option("Assign first texts…", act(A.TEXTER_MENU, k=campaign_id, u=row.user_id, x="assign")),
            Option("Set maximum…", act(A.TEXTER_MENU, k=campaign_id, u=row.user_id, x="max")),
        ]
        if row.unsent_initials:
            choices.append(
                Option("Release unsent…", act(A.TEXTER_MENU, k=campaign_id, u=row.user_id, x="release"))
            )
        parts.append(
            Section(
                text, Select(A.TEXTER_MENU, f"Manage {row.name[:60]}…", (OptionGroup("", tuple(choices)),))
            )
        )
    if len(rows) > MAX_LISTED:
        parts.append(Note(f"… and {len(rows) - MAX_LISTED} more"))
    return _msg("info", *parts, summary=f"Texters of {title}")


def assign_form(campaign_id: int, user_id: int, name: str, title: str) -> Form:
    return Form(
        act(A.ASSIGN, k=campaign_id, u=user_id),
        "Assign first texts",
        "Assign",
        (TextField("count", f"How many first texts for {name}?"),),
        intro=(
            f"Unassigned first texts of {bold(title)} go to {bold(name)} "
            "(only while dynamic assignment is off)."
        ),
    )


def max_form(campaign_id: int, user_id: int, name: str, title: str, current: int | None) -> Form:
    return Form(
        act(A.SET_MAX, k=campaign_id, u=user_id),
        "Texter maximum",
        "Save",
        (
            TextField(
                "max", "Maximum contacts held (a number, or none)", "" if current is None else str(current)
            ),
        ),
        intro=f"How many contacts of {bold(title)} {bold(name)} may hold; none: the campaign's applies.",
    )


def release_form(campaign_id: int, user_id: int, name: str, unsent: int) -> Form:
    return Form(
        act(A.RELEASE_TEXTER, k=campaign_id, u=user_id),
        "Release unsent?",
        "Release",
        intro=f"{bold(name)}'s {plural(unsent, 'unsent first text')} go back to the pool.",
    )


def released_texter(name: str, count: int) -> Message:
    return confirmation(
        f"Released {plural(count, 'unsent first text')} of {esc(name)}; they are back in the pool."
    )


UNASSIGN_CONFIRM = Confirm("Unassign?", "Every assigned contact matching goes back to the pool.", "Unassign")


def confirm_first(confirm: Confirm, action: A.Action) -> Message:
    """The question of a button that asks first, as a message of its own (for a platform whose buttons
    cannot ask): its one button is ``action`` again, marked confirmed (``y``)."""
    confirmed = act(action.name, **{**action.args, "y": 1})
    return _msg(
        "info",
        Section(f"{bold(confirm.title)}\n{esc(confirm.text)}"),
        Controls((Button(confirm.confirm, confirmed, style="danger"),)),
        summary=confirm.title,
    )


def review_message(
    campaign_id: int,
    title: str,
    status: str | None,
    texter: tuple[int, str] | None,
    rows: Sequence[ReviewRow],
) -> Message:
    whose = f" assigned to {esc(texter[1])}" if texter else ""
    label = (status or "all").replace("_", " ")
    parts: list[Any] = [Section(f"{bold('Review of ' + title)}: {label}{whose} ({len(rows)} shown)")]
    lines = []
    for row in rows:
        holder = esc(row.assigned_name) if row.assigned_name else "unassigned"
        flags = " opted out" if row.opted_out else ""
        flags += " escalated" if row.escalated else ""
        name = esc(f"{row.first_name} {row.last_name}".strip() or "(no name)")
        lines.append(f"{esc(row.cell)} {name} — {row.status.replace('_', ' ')}, {holder}{flags}")
    if lines:
        parts.append(Section("\n".join(lines)))
        parts.append(
            Controls(
                (
                    Button(
                        "Unassign all matching",
                        act(A.REVIEW_UNASSIGN, k=campaign_id, f=status, u=texter[0] if texter else None),
                        style="danger",
                        confirm=UNASSIGN_CONFIRM,
                    ),
                )
            )
        )
    else:
        parts.append(Note("Nothing matches."))
    return _msg("info", *parts, summary=f"Review of {title}")


def assigned_by_hand(name: str, title: str, count: int, reason: str | None) -> Message:
    if not count:
        return confirmation(f"Gave no first texts to {esc(name)}: {esc(reason or 'nothing left to give')}.")
    tail = f" ({esc(reason)})" if reason else ""
    return confirmation(f"{INBOX} Gave {plural(count, 'first text')} to {esc(name)} in {bold(title)}{tail}.")


def maximum_set(name: str, title: str, own: int | None, campaign_max: int | None) -> Message:
    if own is not None:
        return confirmation(f"{esc(name)}'s maximum in {bold(title)} is now {own}.")
    rest = str(campaign_max) if campaign_max is not None else "no limit"
    return confirmation(
        f"{esc(name)}'s own maximum in {bold(title)} is removed: the campaign's applies ({rest})."
    )


def unassigned(count: int) -> Message:
    return confirmation(f"Unassigned {plural(count, 'contact')}; they are back in the pool.")


def optout_list(page: OptOutPage) -> Message:
    if not page.total:
        return info("The opt-out list is empty.")
    lines = [f"{esc(o.cell)} — {esc(o.source)}, {o.created_at:%Y-%m-%d}" for o in page.items]
    more = f" Next: {cmd(f'optout list {page.page + 1}')}." if page.has_next else ""
    return _msg(
        "info",
        Section(f"{bold('Opt-out list')}: {plural(page.total, 'number')}, page {page.page} of {page.pages}"),
        Section("\n".join(lines)),
        Note(f"These numbers are never texted again.{more}"),
        summary=f"Opt-out list: {page.total}",
    )


def _waiting_line(item: WaitingConversation) -> str:
    since = f", waiting since {item.waiting_since:%b %d %H:%M} UTC" if item.waiting_since else ""
    team = f" (team {esc(item.team_name)})" if item.team_name else ""
    who_ = bold(item.contact_name or "a contact")
    return f"{who_} {esc(item.cell)} in {esc(item.campaign_title)}{team}{since}"


def admin_parts(board: AdminDashboard) -> list[Any]:
    """The admin's part of the dashboard: campaigns with progress, and what waits on an admin."""
    parts: list[Any] = [Divider(), Header("Admin")]
    for c in board.campaigns:
        parts.append(
            Section(
                f"{bold(c.title)} — {c.status}\n{code(progress_bar(c.stats.sent_percent))} "
                f"{c.stats.sent_percent:.0f}% ({esc(c.stats.percent_basis)})"
            )
        )
    if not board.campaigns:
        parts.append(Note(f"No live campaigns: {cmd('campaign new')}."))
    parts.append(Section(f"{ALARM} {bold(plural(board.escalated_count, 'escalated conversation'))} waiting"))
    for item in board.escalated:
        parts.append(
            Section(_waiting_line(item), Button("Open", act(A.OPEN_CONVERSATION, c=item.contact_id)))
        )
    waiting = plural(board.unassigned_replies_count, "unassigned reply", "unassigned replies")
    parts.append(Section(f"{INBOX} {bold(waiting)}"))
    for item in board.unassigned_replies:
        parts.append(
            Section(_waiting_line(item), Button("Send Replies", act(A.START_REPLIES, k=item.campaign_id)))
        )
    parts.append(
        Section(f"{WARN} {bold(plural(board.unknown_sends_count, 'send', 'sends'))} in state unknown")
    )
    for send in board.unknown_sends:
        parts.append(
            Note(
                f"{bold(send.contact_name or 'a contact')} {esc(send.cell)} in {esc(send.campaign_title)}: "
                f"{esc(send.body[:80])} — check in Twilio whether it went; it is never sent again"
            )
        )
    return parts


def campaign_list(items: Iterable[tuple[int, str, str, int]]) -> Message:
    lines = [
        f"{code(cid)} {bold(title)} — {status}, {plural(contacts, 'contact')}"
        for cid, title, status, contacts in items
    ]
    return _msg(
        "info",
        Section("\n".join(lines) if lines else f"No campaigns yet: {cmd('campaign new')}."),
        summary="campaigns",
    )


def exported(filename: str, count: int) -> Message:
    return confirmation(f"Uploaded {esc(filename)} ({plural(count, 'contact')}).")


def export_comment(title: str, count: int) -> str:
    return f"{title}: {count:,} contacts with their answers and tags"


def opted_out_number(cell: str, added: bool) -> Message:
    word = "is now on" if added else "was already on"
    return confirmation(f"{esc(cell)} {word} the opt-out list; no campaign will text it again.")


def role_changed(name: str, role: str) -> Message:
    return confirmation(f"{esc(name)} is now {'an admin' if role == 'admin' else 'a texter'}.")


def campaign_created(title: str, campaign_id: int, hours: str) -> Message:
    ref = command_arg(title)
    return _msg(
        "confirmation",
        Section(
            f"{MEMO} Draft campaign {bold(title)} (id {campaign_id}) created, texting hours {esc(hours)}. "
            f"Next: {cmd('contacts ' + ref)}, {cmd('settings ' + ref)}, then {cmd('launch ' + ref)}."
        ),
        summary=f"Created draft campaign {title}",
    )


def campaign_applied(title: str, campaign_id: int, status: str, created: bool, source: str) -> Message:
    verb = "Created" if created else "Updated"
    return _msg(
        "confirmation",
        Section(f"{OK} {verb} {bold(title)} (id {campaign_id}, {status}) from {esc(source)}."),
        summary=f"{verb} campaign {title}",
    )


def settings_saved(title: str) -> Message:
    return confirmation(f"Saved the assignment settings of {bold(title)}.")


def assignment_settings(title: str, values: Sequence[tuple[str, Any]], saved: bool) -> Message:
    """A campaign's assignment settings, one per line (after a change: as saved)."""
    lines = [f"{name.replace('_', ' ')}: {bold(value)}" for name, value in values]
    return listing(f"{'Saved' if saved else 'Current'} assignment settings of {title}", lines)


def import_started(name: str, title: str) -> Message:
    return info(f"Importing {esc(name)} into {bold(title)}…")


def import_progress(name: str, title: str, percent: float) -> Message:
    return info(f"Importing {esc(name)} into {bold(title)}: {code(progress_bar(percent))} {percent:.0f}%")


def import_failed(name: str, reason: str) -> Message:
    return _msg(
        "refusal",
        Section(f"{NO} {esc(name)} was not imported, nothing changed: {esc(reason)}"),
        summary=reason,
    )


def import_done(name: str, title: str, imported: int, rows: int, skipped: dict[str, int]) -> Message:
    listed = ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in skipped.items() if count)
    return confirmation(
        f"{OK} Imported {bold(imported)} {'contact' if imported == 1 else 'contacts'} of "
        f"{plural(rows, 'row')} from {esc(name)} into {bold(title)}."
        + (f" Skipped: {esc(listed)}." if listed else "")
    )


# --- texters: Send First Texts card ---


def initial_card(title: str, card: InitialCard, note: str = "") -> Message:
    """One contact and the rendered initial with **Send** (the action names the contact and its state)."""
    local = f"{card.local_time:%H:%M} {card.timezone}"
    return _msg(
        "card",
        Note(note) if note else None,
        Section(
            f"{bold('Send First Texts — ' + title)}\n{bold(card.contact_name or '(no name)')} "
            f"{esc(card.masked_cell)} · their time {esc(local)}"
        ),
        Section(quote(card.body)),
        Controls(
            (
                Button(
                    "Send",
                    act(A.SEND_INITIAL, c=card.contact_id, s=card.expected_status, k=card.campaign_id),
                    style="primary",
                ),
            ),
            id="initial",
        ),
        Note(f"{card.remaining} left to send now, this one included"),
        summary=f"Send First Texts: {card.contact_name}",
    )


def batch_done(
    campaign_id: int, title: str, can_request: bool, reason: str | None, held_any: bool, note: str = ""
) -> Message:
    """The card with no text to send: **Request More** (or why not) and **Done For Now**.

    ``held_any``: the texter was given first texts in this campaign before (else nothing was sent yet,
    and the card must not say the batch is done).
    """
    if held_any:
        head = f"{bold(title)}: you have sent every text of your batch that can go now."
    else:
        head = f"{bold(title)}: you have no first texts to send yet."
    buttons: list[Button] = []
    why = None
    if can_request:
        buttons.append(Button("Request More", act(A.REQUEST_MORE, k=campaign_id), style="primary"))
    else:
        why = Note(f"Request More is unavailable: {esc(reason or 'nothing to request')}")
    buttons.append(Button("Done For Now", act(A.DONE_FOR_NOW, k=campaign_id)))
    return _msg(
        "card",
        Note(note) if note else None,
        Section(head),
        why,
        Controls(tuple(buttons), id="batch"),
        summary=f"{title}: batch done" if held_any else f"{title}: nothing to send yet",
    )


def done_for_now(title: str, unsent: int, replies: int) -> Message:
    return _msg(
        "card",
        Section(
            f"{bold(title)}: done for now. You still hold {plural(unsent, 'unsent first text')} and "
            f"{plural(replies, 'unhandled reply', 'unhandled replies')}; "
            "pick up again from your textbank dashboard."
        ),
        summary=f"{title}: done for now",
    )


def done_for_the_day(title: str | None, initials: int, replies: int) -> Message:
    where = f" in {bold(title)}" if title else ""
    if not initials and not replies:
        return confirmation(
            f"Done for the day{where}: you held no unsent texts or unhandled replies. Thank you!"
        )
    return confirmation(
        f"Done for the day{where}: {plural(initials, 'unsent first text')} and "
        f"{plural(replies, 'unhandled reply', 'unhandled replies')} went back to the pool for other texters. "
        "Thank you!"
    )


def sent_note(name: str) -> str:
    return f"{OK} Sent to {esc(name or 'the contact')}."


def not_sent_note(reason: str | None) -> str:
    return f"{WARN} Not sent: {esc(reason or 'nothing to send')}"


def claimed_note(count: int) -> str:
    return f"{INBOX} {plural(count, 'more contact')} {'is' if count == 1 else 'are'} yours to text."


def nothing_claimed_note(reason: str | None) -> str:
    return f"{WARN} No more texts: {esc(reason or 'nothing left to send')}"


def joined_note(title: str, joined: bool) -> str:
    return f"{'You joined' if joined else 'You are already in'} {bold(title)}."


def joined(title: str, team: str | None, joined_now: bool) -> Message:
    team_text = f" (team {bold(team)})" if team else ""
    verb = "You joined" if joined_now else "You are already in"
    return confirmation(f"{verb} {bold(title)}{team_text}: look in your direct messages with textbank.")


def first_batch_note(title: str, joined_now: bool, count: int, reason: str | None) -> str:
    """What joining gave: the first batch, or why none came."""
    head = joined_note(title, joined_now)
    if count:
        return f"{head} {INBOX} {plural(count, 'contact')} {'is' if count == 1 else 'are'} yours to text."
    if reason:
        return f"{head} No first texts for you yet: {esc(reason)}"
    return head


# --- replies ---


def no_replies(reason: str | None) -> Message:
    if reason:
        return info(f"No replies waiting for you: {esc(reason)}")
    return info("No replies waiting for you right now.")


def replies_opened(shown: int, more: int) -> Message:
    tail = f" ({more} more after these)" if more else ""
    return info(f"{plural(shown, 'conversation')} to answer{tail}.")


def thread_parent(view: ConversationView) -> Message:
    name = view.contact_name or "(no name)"
    return _msg(
        "thread_parent",
        Section(f"{SPEECH} {bold(name)} {esc(view.cell)}\n{italic(view.campaign_title)}"),
        Note("Their texts and yours appear in this thread; answer with the controls at the bottom."),
        summary=f"Conversation with {view.contact_name or 'a contact'} ({view.cell}) — {view.campaign_title}",
    )


def thread_line(message: MessageView, contact_name: str, texter_id: int) -> Message:
    if message.direction == "in":
        count = len(message.media)
        media = f" (+{plural(count, 'attachment')})" if count else ""
        text = f"{bold(contact_name or 'Contact')}: {esc(message.body)}{media}"
    else:
        sender = "You" if message.user_id == texter_id else "Sent"
        failed = f" {WARN} {italic('not delivered')}" if message.status in ("failed", "undelivered") else ""
        text = f"{bold(sender)}: {esc(message.body)}{failed}"
    return _msg("thread_line", Section(text), summary=plain(text))


def _note_lines(view: ConversationView, note: str) -> list[Note]:
    """The click's note and core's notes about the conversation, each said once."""
    out: list[Note] = []
    seen: set[str] = set()
    for line in ([note] if note else []) + [f"{INFO} {esc(n)}" for n in view.notes]:
        key = plain(line).lower().strip(" .")
        if key in seen or any(key in s or s in key for s in seen if s):
            continue
        seen.add(key)
        out.append(Note(line))
    return out


def _state_line(view: ConversationView) -> str:
    if view.opted_out:
        return f"{MUTE} {bold('Opted out')}: this number is never texted again."
    if view.status == "closed":
        return f"{OK} {bold('Closed')}: a new text from them reopens it."
    return f"Status: {bold(view.status.replace('_', ' '))}"


def control_message(view: ConversationView, draft: str = "", note: str = "", adhoc: bool = False) -> Message:
    """The thread's control: state, answers, tags, the question as a select, the reply, Send / Edit, menu."""
    c = view.contact_id
    parts: list[Any] = list(_note_lines(view, note))
    answered = "\n".join(f"• {esc(q)} → {bold(a)}" for q, a in view.answers)
    tags = ", ".join(esc(t.name) for t in view.tags if t.applied)
    head = (
        _state_line(view)
        + (f"\n{answered}" if answered else "")
        + (f"\n{LABEL} Tags: {tags}" if tags else "")
    )
    parts.append(Section(head))
    open_conversation = view.can_reply and not view.opted_out and view.status != "closed"
    if open_conversation and view.question is not None and view.question.options:
        question = view.question
        options = tuple(
            Option(o.answer, act(A.ANSWER, c=c, q=question.step_id, a=o.step_id))
            for o in question.options[:25]
        )
        chosen = next((o for o in options if o.action.number("a") == question.chosen_step_id), None)
        parts.append(
            Section(
                bold(question.question), Select(A.ANSWER, "Their answer", (OptionGroup("", options),), chosen)
            )
        )
    elif open_conversation and not view.answers:
        parts.append(Note("No survey question for this conversation."))
    if open_conversation:
        if draft:
            parts.append(Section(bold("Reply") + "\n" + quote(draft)))
        else:
            parts.append(
                Note(
                    "Pick their answer to fill in the prepared reply, choose a canned response, "
                    "type the reply in this thread, or Edit."
                )
            )
        buttons: list[Button | Select] = []
        if draft:
            buttons.append(
                Button(
                    "Send",
                    act(A.REPLY_SEND, c=c, s=view.status, m=view.last_message_id or 0),
                    style="primary",
                )
            )
        buttons.append(Button("Edit", act(A.REPLY_EDIT, c=c)))
        buttons.append(_menu(view, adhoc, can_reply=True))
        parts.append(Controls(tuple(buttons), id="reply"))
    else:
        parts.append(Controls((_menu(view, adhoc, can_reply=False),), id="reply"))
    return _msg("control", *parts, summary="Reply controls")


def _menu(view: ConversationView, adhoc: bool, *, can_reply: bool) -> Select:
    c = view.contact_id
    groups = []
    if view.canned_responses and can_reply:
        groups.append(
            OptionGroup(
                "Canned responses",
                tuple(
                    Option(r.title, act(A.MENU, c=c, x="canned", i=r.id)) for r in view.canned_responses[:10]
                ),
            )
        )
    tags = [t for t in view.tags if not t.applied][:10]
    if tags:
        groups.append(
            OptionGroup(
                "Tag",
                tuple(
                    Option(
                        ("Escalate: " if t.is_escalation else "") + t.name, act(A.MENU, c=c, x="tag", i=t.id)
                    )
                    for t in tags
                ),
            )
        )
    conversation = [Option("Escalate to an admin", act(A.MENU, c=c, x="escalate"))]
    if not view.opted_out:
        conversation.append(Option("Opt out", act(A.MENU, c=c, x="optout")))
    if view.status != "closed":
        conversation.append(Option("Complete the chat" if adhoc else "Close", act(A.MENU, c=c, x="close")))
    groups.append(OptionGroup("Conversation", tuple(conversation)))
    return Select(A.MENU, "More…", tuple(groups))


def conversation_gone(view_reason: str, note: str = "") -> Message:
    """A control message of a conversation that is no longer the texter's (released, escalated)."""
    if note:
        return _msg("control", Section(note), summary=plain(note))
    return _msg("control", Section(f"{NO} {esc(view_reason)}"), summary=view_reason)


def released_controls(title: str) -> Message:
    return _msg(
        "control",
        Section(
            f"{BACK} This conversation was released from your list in {bold(title)}: it is back in the pool."
        ),
        summary="Released",
    )


def edit_form(contact_id: int, draft: str) -> Form:
    return Form(
        act(A.REPLY_EDIT, c=contact_id),
        "Edit reply",
        "Use this text",
        (TextField("body", "Reply", draft, multiline=True, max_length=MAX_REPLY),),
    )


def draft_set_note(typed: bool) -> str:
    if typed:
        return f"{MEMO} Your typed text is the reply: check it and click Send."
    return ""


def canned_note(title: str) -> str:
    return f"Canned response: {esc(title)}"


def warn(reason: str) -> str:
    return f"{WARN} {esc(reason)}"


def reply_sent_note() -> str:
    return f"{OK} Sent."


def tagged_note(tag: str, name: str, cell: str, title: str) -> str:
    return f"{LABEL} Tagged {who(name, cell)} in {bold(title)} with {bold(tag)}."


def escalated_note(name: str, cell: str, title: str, tag: str | None = None) -> str:
    how = f" (tagged {bold(tag)})" if tag else ""
    return (
        f"{ALARM} Escalated {who(name, cell)} in {bold(title)}{how}: an admin takes this conversation from "
        "here, and it has left your list."
    )


def opted_out_note(name: str, cell: str, title: str, extra: str | None) -> str:
    return f"{MUTE} Opted out {who(name, cell)} in {bold(title)}: this number is never texted again." + (
        f" {esc(extra)}" if extra else ""
    )


def closed_note(name: str, cell: str, title: str, adhoc: bool) -> str:
    if adhoc:
        return f"{OK} Chat with {who(name, cell)} completed."
    return f"{OK} Closed the conversation with {who(name, cell)} in {bold(title)}."


def unknown_menu_choice(what: object) -> str:
    return f"unknown menu choice {what!r}: reload the conversation"


def not_yours() -> str:
    return "that conversation is not yours to answer any more (released, or taken by someone else)"


def canned_gone() -> str:
    return "that canned response no longer exists: pick another"


def nothing_to_send() -> str:
    return "there is no reply to send: pick their answer, choose a canned response, type it, or Edit"


# --- ad-hoc texts ---


def adhoc_choices(draft_id: int, masked_or_number: str, body: str) -> Message:
    return _msg(
        "info",
        Section(f"Text {bold(masked_or_number)}:\n{quote(body)}"),
        Controls(
            tuple(
                Button(
                    label,
                    act(A.ADHOC_SEND, d=draft_id, r=route),
                    style="primary" if route == "open" else None,
                )
                for route, label in ROUTE_LABELS
            ),
            id="adhoc",
        ),
        Note("Replies to me: the chat is assigned to you when they answer. Anyone: any texter picks it up."),
        summary=f"Text {masked_or_number}",
    )


def adhoc_sent(masked_cell: str, route: str) -> Message:
    return confirmation(f"{OK} Sent to {esc(masked_cell)}: {ROUTE_SENT.get(route, route)}.")


# --- dashboard ---


@dataclass(frozen=True)
class DashboardLine:
    campaign_id: int
    title: str
    unsent: int
    replies: int
    can_request: bool
    reason: str | None


@dataclass(frozen=True)
class PastConversation:
    contact_name: str
    campaign_title: str
    status: str
    target: MessageRef | None


def dashboard(
    lines: Sequence[DashboardLine],
    is_admin: bool,
    past: Sequence[PastConversation] = (),
    board: AdminDashboard | None = None,
) -> Message:
    parts: list[Any] = [Header("Your texting")]
    if not lines:
        parts.append(Section("You are not texting in any campaign yet: click a campaign's Join button."))
    for line in lines:
        parts.append(Divider())
        parts.append(
            Section(
                f"{bold(line.title)}\n{plural(line.unsent, 'first text')} to send · "
                f"{plural(line.replies, 'reply', 'replies')} waiting"
            )
        )
        buttons = [
            Button(
                f"Send First Texts ({line.unsent})",
                act(A.START_INITIALS, k=line.campaign_id),
                style="primary",
            ),
            Button(f"Send Replies ({line.replies})", act(A.START_REPLIES, k=line.campaign_id)),
        ]
        if line.can_request:
            buttons.append(Button("Request More", act(A.REQUEST_MORE, k=line.campaign_id)))
        buttons.append(
            Button("Done for the Day", act(A.DONE_FOR_THE_DAY, k=line.campaign_id), style="danger")
        )
        parts.append(Controls(tuple(buttons)))
        if not line.can_request and line.reason:
            parts.append(Note(f"Request More is unavailable: {esc(line.reason)}"))
    if past:
        parts.append(Header("Recent conversations"))
        parts.append(
            LinkList(
                tuple(
                    Link(
                        p.contact_name or "a contact",
                        p.target,
                        f" — {esc(p.campaign_title)}, {p.status.replace('_', ' ')}",
                    )
                    for p in past
                )
            )
        )
    if board is not None:
        parts.extend(admin_parts(board))
    if is_admin:
        parts.append(Divider())
        parts.append(Note(f"You are an admin: {cmd('help')} lists the admin commands."))
    return _msg("dashboard", *parts, summary="Your texting")


# --- notices ---


def notice(kind: str, payload: dict[str, Any], campaign_id: int | None = None) -> Message:
    """A notice that is not a thread message, as a line for the person's direct messages.

    A reply reminder carries a button that opens the waiting replies (``campaign_id``: the notice's).
    """
    title = bold(payload.get("campaign_title") or "your campaign")
    by = f" by {esc(payload['by'])}" if payload.get("by") else ""
    if kind == "released":
        initials = int(payload.get("initials", 0) or 0)
        replies = int(payload.get("replies", 0) or 0)
        total = int(payload.get("total", 0) or 0)
        text = (
            f"{BACK} {plural(total, 'of your contacts', 'of your contacts')} in {title} "
            f"{'was' if total == 1 else 'were'} released{by} "
            f"({initials} unsent, {plural(replies, 'unhandled reply', 'unhandled replies')}); "
            f"{'it is' if total == 1 else 'they are'} back in the pool."
        )
    elif kind == "assigned":
        count = int(payload.get("initials", 0) or 0)
        text = f"{INBOX} You were given {plural(count, 'first text')} to send in {title}{by}."
    elif kind == "failed":
        text = f"{WARN} A text was not delivered: {esc(payload.get('reason') or 'unknown error')}"
    elif kind == "escalated":
        contact = who(str(payload.get("contact_name") or ""), str(payload.get("masked_cell") or ""))
        text = f"{ALARM} {esc(payload.get('by') or 'A texter')} escalated {contact} in {title}."
    elif kind == "adhoc_unclaimed":
        body = esc(str(payload.get("body") or ""))
        text = f"{INBOX} A reply in {title} waits for anyone to take it: {body}"
    elif kind in ("reminder", "reply_reminder"):
        count = int(payload.get("count", 0) or 0)
        verb = "has" if count == 1 else "have"
        text = f"{BELL} {plural(count, 'reply', 'replies')} in {title} {verb} waited for your answer."
    else:
        body = payload.get("text") or payload.get("body") or ""
        text = f"{esc(kind.replace('_', ' '))}: {esc(body)}" if body else esc(kind.replace("_", " "))
    if kind in ("reminder", "reply_reminder", "adhoc_unclaimed") and campaign_id:
        opener = Button("Open them", act(A.START_REPLIES, k=campaign_id), style="primary")
        return Message("notice", plain(text), (Section(text), Controls((opener,))))
    return text_message("notice", text)


def not_delivered_note(reason: str) -> str:
    return f"{WARN} Not delivered: {esc(reason or 'unknown error')}"


# --- where conversation threads open (Discord) ---

THREADS_HELP = (
    (
        "threads channel [CAMPAIGN]",
        "conversation threads of a campaign (without one: of every campaign) open in this channel",
    ),
)


def no_thread_channel(title: str) -> str:
    """Why a campaign's conversation thread cannot open, and who does what about it (a reason: plain)."""
    return (
        f"the conversations of {title} cannot open yet: no channel is chosen for their threads. An admin "
        f"types /textbank threads channel campaign:{title} in the channel where they should open (or leaves "
        "campaign out, for every campaign of this server); then Send Replies on the dashboard opens them"
    )


def thread_not_opened(payload: dict[str, Any], reason: str) -> Message:
    """A reply (or another thread notice) that could not reach its thread, said in the texter's DM."""
    contact = who(str(payload.get("contact_name") or ""), str(payload.get("masked_cell") or ""))
    title = bold(payload.get("campaign_title") or "your campaign")
    return text_message(
        "notice", f"{WARN} Your conversation with {contact} in {title} is waiting: {esc(reason)}."
    )


def thread_channel_chosen(title: str | None) -> Message:
    """An admin chose this channel for a campaign's threads (``title``), or for every campaign's."""
    whose = (
        f"for {bold(title)}"
        if title is not None
        else "for every campaign without a channel of its own in this server"
    )
    return confirmation(f"Conversation threads open here, as private threads, {whose}.")


# --- platform plumbing (what only one platform's way of working needs said) ---

NO_SERVER = "use textbank from a server channel first: it has no server to go by here"
DISCORD_TOKEN_REFUSED = "Discord refused DISCORD_TOKEN: copy the bot token from the application's Bot page"
DISCORD_INTENT_REFUSED = (
    "Discord refused the Message Content intent: switch it on in the developer portal "
    "(the application's Bot page, Privileged Gateway Intents)"
)
DISCORD_STOPPED = "the Discord bot stopped while connecting: see the log"


def no_dm() -> str:
    return (
        "textbank cannot send you a direct message: allow direct messages from this server's members "
        "(Privacy Settings) and click Join again"
    )


def attachment_too_large(name: str, size: int, limit: int) -> str:
    """An uploaded file over what textbank (or the server) takes, refused before it is downloaded."""
    return f"{name} is {_size(size)}, larger than the {_size(limit)} textbank takes here: split it"


def attachment_not_handed(name: str, status: int) -> str:
    return f"Discord did not hand over {name} ({status}): attach it again"


def export_too_large(name: str, size: int, limit: int) -> str:
    """The export is bigger than this server lets a bot upload."""
    return (
        f"{name} is {_size(size)}, over this server's upload limit of {_size(limit)}: export it with "
        "the command line (textbank contacts export CAMPAIGN), or filter it with /textbank review"
    )


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):,.1f} MiB"
    return f"{max(1, round(count / 1024)):,} KiB"


# --- admin forms ---


def new_campaign_form() -> Form:
    return Form(
        act(A.CAMPAIGN_NEW),
        "New campaign",
        "Create",
        (
            TextField("title", "Title"),
            TextField("description", "Description", multiline=True, required=False),
            TextField(
                "initial", "Initial message ({firstName}, {texterName}, ... are filled in)", multiline=True
            ),
            TextField("hours_start", "Texting hours start (contact's local time, HH:MM)", "09:00"),
            TextField("hours_end", "Texting hours end (HH:MM)", "21:00"),
            TextField("timezone", "Default time zone", "America/New_York"),
        ),
    )


# (title, submit, file or checkbox label) of the admin forms with a file upload or checkboxes.
APPLY_FORM = ("Apply campaign file", "Apply", "Campaign file (.yaml)")
CONTACTS_FORM = ("Upload contacts", "Import", "Contacts file (.csv)")
SETTINGS_FORM = ("Assignment settings", "Save", "Assignment")


def apply_form_intro() -> str:
    return "Upload a campaign YAML file: a new title creates a campaign, an existing one updates it."


def contacts_form_intro(title: str) -> str:
    return (
        f"Contacts for {bold(title)}: a CSV with a phone column (cell, phone, ...) and optional first name, "
        "last name, zip and custom fields. All or nothing."
    )


def no_file() -> str:
    return "no file was uploaded: choose a file"


def not_utf8(name: str) -> str:
    return f"{name} is not UTF-8 text: save it as UTF-8"
