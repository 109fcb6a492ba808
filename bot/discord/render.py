"""Neutral views as Discord messages: content or an embed, and action rows. Pure: no I/O, no sentences.

Discord renders the neutral markup as it is. A message of one section and no controls is plain content
(at most 2,000 characters); anything else is one embed (description at most 4,096) coloured by its kind.
Controls become action rows (5 buttons to a row, a select alone in its row, at most 5 rows). A button's
``custom_id`` is its action encoded (``Action.encode``, at most 100 characters); a select's options carry
their actions as values, and a select of more than 25 options is paged over several selects (rows). Selects
beside sections that would need more than 5 rows (one per texter) become one select, paged, each option
described by its section's first line.
Every click comes back through ``on_interaction`` (``bot.discord.client``), so nothing is kept per message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import discord

from bot.chat import markup
from bot.chat import views as v
from bot.chat.actions import Action

MAX_CONTENT = 2000
MAX_DESCRIPTION = 4096
MAX_ROWS = 5
MAX_OPTIONS = 25
MAX_FIELDS = 5
SELECT_PREFIX = "tb_sel|"
COLOURS = {
    "card": discord.Colour.green(),
    "control": discord.Colour.blurple(),
    "refusal": discord.Colour.red(),
    "confirmation": discord.Colour.green(),
}
STYLES = {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger}


class Rows(discord.ui.View):
    """Action rows sent with a message; not kept by discord.py (``on_interaction`` handles the clicks)."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    def is_dispatchable(self) -> bool:
        return False


@dataclass
class Rendered:
    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)
    view: Rows = field(default_factory=Rows)

    def kwargs(self) -> dict[str, Any]:
        """For ``send``/``edit``: an edit to a message without rows removes the old ones."""
        return {"content": self.content, "embeds": self.embeds, "view": self.view}


def _button(button: v.Button) -> discord.ui.Button[Any]:
    style = STYLES.get(button.style or "", discord.ButtonStyle.secondary)
    return discord.ui.Button(label=button.label[:80], style=style, custom_id=button.action.encode())


def _selects(select: v.Select) -> list[discord.ui.Select[Any]]:
    """One select per 25 options ("1/2", "2/2" in the placeholder when paged)."""
    # Discord has no option groups: a group's label is each of its options' description.
    options = [(o, g.label) for g in select.groups for o in g.options]
    pages = [options[i : i + MAX_OPTIONS] for i in range(0, len(options), MAX_OPTIONS)] or [[]]
    out: list[discord.ui.Select[Any]] = []
    for number, page in enumerate(pages, 1):
        paged = f" ({number}/{len(pages)})" if len(pages) > 1 else ""
        placeholder = select.placeholder + paged
        choices = [
            discord.SelectOption(
                label=o.label[:100],
                value=o.action.encode(),
                description=group[:100] or None,
                default=o == select.chosen,
            )
            for o, group in page
        ]
        out.append(
            discord.ui.Select(
                custom_id=f"{SELECT_PREFIX}{select.name}|{number}"[:100],
                placeholder=placeholder[:150],
                options=choices or [discord.SelectOption(label="-", value="-")],
                disabled=not choices,
            )
        )
    return out


def _rows(items: list[v.Button | v.Select]) -> list[list[discord.ui.Item[Any]]]:
    rows: list[list[discord.ui.Item[Any]]] = []
    buttons: list[discord.ui.Item[Any]] = []
    for item in items:
        if isinstance(item, v.Button):
            if len(buttons) == 5:
                rows.append(buttons)
                buttons = []
            buttons.append(_button(item))
        else:
            rows.extend([s] for s in _selects(item))
    if buttons:
        rows.append(buttons)
    return rows


def _link_line(label: str, channel_id: str | None, tail: str) -> str:
    # A Discord conversation thread is a channel: its mention links to it.
    return (f"<#{channel_id}> {label}" if channel_id else label) + tail


def _merged(message: v.Message) -> v.Select | None:
    """When a select beside each section would pass Discord's 5 rows (a Manage… for each texter), one
    select of them all (paged), each section's options described by its first line."""
    beside = [p for p in message.parts if isinstance(p, v.Section) and isinstance(p.accessory, v.Select)]
    others = sum(
        isinstance(p, v.Controls) or (isinstance(p, v.Section) and isinstance(p.accessory, v.Button))
        for p in message.parts
    )
    selects = [p.accessory for p in beside if isinstance(p.accessory, v.Select)]
    if len(selects) + others <= MAX_ROWS or len({s.name for s in selects}) != 1:
        return None
    groups = tuple(
        v.OptionGroup(markup.plain(section.text).split("\n")[0], select.options)
        for section, select in zip(beside, selects, strict=True)
    )
    return v.Select(selects[0].name, selects[0].placeholder, groups)


def render(message: v.Message) -> Rendered:
    """``message`` as content or an embed, with its controls as action rows (within Discord's limits)."""
    title = ""
    lines: list[str] = []
    rows: list[list[discord.ui.Item[Any]]] = []
    merged, merged_shown = _merged(message), False
    for part in message.parts:
        if isinstance(part, v.Header):
            title = part.text
        elif isinstance(part, v.Section):
            lines.append(part.text)
            accessory = part.accessory
            if merged is not None and isinstance(accessory, v.Select):  # one merged select stands for all
                accessory, merged_shown = (None if merged_shown else merged), True
            if accessory is not None:
                rows.extend(_rows([accessory]))
        elif isinstance(part, v.Note):
            lines.append(f"-# {part.text}" if "\n" not in part.text else part.text)
        elif isinstance(part, v.Controls):
            rows.extend(_rows(list(part.items)))
        elif isinstance(part, v.Divider):
            lines.append("")
        elif isinstance(part, v.LinkList):
            lines.append(
                "\n".join(
                    _link_line(link.label, link.target.message_id if link.target else None, link.tail)
                    for link in part.links
                )
            )
    out = Rendered()
    seen: set[str] = set()
    for number, row in enumerate(rows[:MAX_ROWS]):
        for item in row:
            item.row = number
            if isinstance(item, discord.ui.Select):
                # Discord refuses a message with one custom_id twice (a Manage… select per texter); a
                # select's id only has to be unique: its options carry the actions.
                if item.custom_id in seen:
                    item.custom_id = f"{item.custom_id}|r{number}"[:100]
                seen.add(item.custom_id)
            out.view.add_item(item)
    text = "\n".join(lines).strip()
    plain = len(message.parts) == 1 and isinstance(message.parts[0], v.Section) and not rows
    if plain and len(text) <= MAX_CONTENT:
        out.content = text or message.summary[:MAX_CONTENT]
        return out
    embed = discord.Embed(description=text[:MAX_DESCRIPTION] or None, colour=COLOURS.get(message.kind))
    if title:
        embed.title = title[:256]
    out.embeds.append(embed)
    return out


class FormModal(discord.ui.Modal):
    """A neutral form; its submission comes back through ``on_interaction`` (custom_id: the action)."""

    def __init__(self, form: v.Form) -> None:
        super().__init__(title=form.title[:45], custom_id=form.action.encode(), timeout=900)
        fields = list(form.fields)
        while len(fields) > MAX_FIELDS and any(not f.required for f in fields):
            # Discord shows 5 fields: an optional one is left out (its value is then empty).
            fields.remove(next(f for f in reversed(fields) if not f.required))
        for f in fields[:MAX_FIELDS]:
            self.add_item(
                discord.ui.TextInput(
                    label=f.label[:45],
                    custom_id=f.id,
                    default=f.initial[:4000] or None,
                    style=discord.TextStyle.paragraph if f.multiline else discord.TextStyle.short,
                    max_length=min(f.max_length or 4000, 4000),
                    required=f.required,
                )
            )


def clicked_action(data: dict[str, Any]) -> Action:
    """The neutral action of a button, a select option or a submitted form (``interaction.data``)."""
    values = data.get("values") or []
    encoded = str(values[0] if values else data.get("custom_id") or "")
    return Action.decode(encoded)


def submitted_fields(data: dict[str, Any]) -> dict[str, str]:
    """A submitted modal's text fields by id."""
    return {
        str(c.get("custom_id")): str(c.get("value") or "")
        for row in data.get("components") or []
        for c in row.get("components") or []
    }
