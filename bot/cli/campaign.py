"""``textbank campaign``: create, list, show, apply/export YAML, launch, archive."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree
from sqlalchemy.orm import Session

from bot.cli.common import cli_actor, console, err_console, fail, open_database, refusals, settings
from core import campaigns as core_campaigns
from core.campaign_yaml import CampaignYamlError, apply_campaign_yaml, export_campaign_yaml
from core.errors import Refused
from core.hours import format_hhmm, parse_hhmm
from core.orgs import default_organization
from core.scripts import StepSpec, load_tree
from storage import Database

app = typer.Typer(
    help="Campaigns: create, list, show, apply and export as YAML, launch, archive.", no_args_is_help=True
)

CAMPAIGN_ARG = typer.Argument(..., metavar="CAMPAIGN", help="The campaign's id or exact title.")


@contextmanager
def database() -> Iterator[Database]:
    db = open_database()
    try:
        yield db
    finally:
        db.dispose()


def org_id(session: Session) -> int:
    return default_organization(session, settings().organization_name).id


@contextmanager
def yaml_refusals() -> Iterator[None]:
    """A refused campaign file: every problem on its own line, then exit 1."""
    try:
        yield
    except CampaignYamlError as exc:
        for error in exc.errors[:-1]:
            err_console.print(f"[bold red]error:[/] {escape(error)}", highlight=False)
        fail(escape(exc.errors[-1]) if exc.errors else "the campaign file was refused")


def _minutes(value: str, option: str) -> int:
    with refusals():
        try:
            return parse_hhmm(value)
        except Refused as exc:
            raise Refused(f"{option}: {exc.reason}") from exc


@app.command("create")
def create_cmd(
    title: str = typer.Argument(..., help="The campaign's title (unique among live campaigns)."),
    description: str = typer.Option("", "--description", "-d", help="What the campaign is for."),
    timezone: str = typer.Option(
        "America/New_York", "--timezone", help="Default time zone for contacts whose zone is unknown."
    ),
    start: str = typer.Option("09:00", "--start", help="Texting hours start (HH:MM, contact's local time)."),
    end: str = typer.Option("21:00", "--end", help="Texting hours end (HH:MM, contact's local time)."),
    initial: str | None = typer.Option(
        None, "--initial", help="The initial message, e.g. 'Hi {firstName}, it's {texterName}...'."
    ),
) -> None:
    """Create a draft campaign (a whole campaign is easier to write as YAML: see `apply`)."""
    hours_start, hours_end = _minutes(start, "--start"), _minutes(end, "--end")
    with database() as db, refusals(), db.session() as session:
        campaign = core_campaigns.create_campaign(
            session,
            org_id(session),
            actor=cli_actor(session),
            title=title,
            description=description,
            timezone=timezone,
            hours_start=hours_start,
            hours_end=hours_end,
            initial_script=initial,
        )
        console.print(f"created draft campaign [bold]{escape(campaign.title)}[/] (id {campaign.id})")


@app.command("list")
def list_cmd(
    live: bool = typer.Option(False, "--live", help="Leave out archived campaigns."),
) -> None:
    """List the campaigns with their contact counts."""
    with database() as db, refusals(), db.session() as session:
        actor = cli_actor(session)
        summaries = core_campaigns.list_campaigns(
            session, actor.organization_id, actor=actor, include_archived=not live
        )
        if not summaries:
            console.print(
                "no campaigns yet: create one with `textbank campaign apply examples/campaign.yaml`"
            )
            return
        table = Table(title="Campaigns")
        table.add_column("ID", justify="right")
        table.add_column("Title")
        table.add_column("Status")
        table.add_column("Contacts", justify="right")
        table.add_column("To text", justify="right")
        table.add_column("Replies", justify="right")
        table.add_column("Opted out", justify="right")
        table.add_column("Hours", no_wrap=True)
        for s in summaries:
            c = s.campaign
            table.add_row(
                str(c.id),
                escape(c.title),
                _status(c.status),
                str(s.contacts),
                str(s.by_status.get("needs_message", 0)),
                str(s.by_status.get("needs_response", 0)),
                str(s.opted_out),
                f"{format_hhmm(c.hours_start)}–{format_hhmm(c.hours_end)}",
            )
        console.print(table)


def _status(status: str) -> str:
    colour = {"draft": "yellow", "launched": "green", "archived": "dim"}.get(status, "white")
    return f"[{colour}]{status}[/]"


def _tree(step: StepSpec) -> Tree:
    tree = Tree(f"[bold]Initial:[/] {escape(step.script)}")
    _branch(tree, step)
    return tree


def _branch(node: Tree, step: StepSpec) -> None:
    if step.question:
        node = node.add(f"[bold cyan]Q:[/] {escape(step.question)}")
    for child in step.answers:
        branch = node.add(f"[bold green]{escape(child.answer)}[/] → {escape(child.script)}")
        _branch(branch, child)


def show_campaign(session: Session, ref: str) -> None:
    """Print one campaign: settings, hours, script tree, canned responses, tags, contacts by status."""
    c = core_campaigns.get_campaign(session, org_id(session), ref)
    summary = core_campaigns.summarize(session, [c])[0]
    console.rule(f"[bold]{escape(c.title)}[/] (id {c.id}) {_status(c.status)}")
    if c.description:
        console.print(escape(c.description))
    settings_table = Table(show_header=False, box=None, pad_edge=False)
    settings_table.add_column(style="bold")
    settings_table.add_column()
    hours = (
        "any time (start and end are equal)"
        if c.hours_start == c.hours_end
        else f"{format_hhmm(c.hours_start)} to {format_hhmm(c.hours_end)}, in each contact's own time zone"
    )
    settings_table.add_row("Texting hours", hours)
    settings_table.add_row("Default time zone", c.timezone)
    settings_table.add_row("Custom fields", escape(", ".join(c.custom_fields or [])) or "none")
    settings_table.add_row(
        "Dynamic initials",
        f"{'on' if c.dynamic_initials else 'off'}, batch {c.initials_batch_size}, "
        f"max per texter {c.max_initials_per_texter or 'no limit'}"
        + (", replies first" if c.replies_before_initials else ""),
    )
    settings_table.add_row(
        "Dynamic replies", f"{'on' if c.dynamic_replies else 'off'}, batch {c.replies_batch_size}"
    )
    settings_table.add_row(
        "Release unhandled replies",
        f"after {c.release_unhandled_after_minutes} minutes" if c.release_unhandled_after_minutes else "off",
    )
    console.print(settings_table)

    tree = load_tree(session, c.id)
    console.print()
    console.print(_tree(tree) if tree is not None else "[yellow]No script yet.[/]")

    canned = core_campaigns.canned_responses(session, c.id)
    if canned:
        table = Table(title="Canned responses", title_justify="left")
        table.add_column("Title")
        table.add_column("Text")
        for response in canned:
            table.add_row(escape(response.title), escape(response.text))
        console.print(table)
    tags = core_campaigns.campaign_tags(session, c.id)
    if tags:
        table = Table(title="Tags", title_justify="left")
        table.add_column("Tag")
        table.add_column("Description")
        table.add_column("Escalates to")
        for tag, team in tags:
            escalates = (escape(team.name) if team else "admins") if tag.is_escalation else ""
            table.add_row(escape(tag.name), escape(tag.description), escalates)
        console.print(table)

    counts = Table(title=f"Contacts: {summary.contacts}", title_justify="left")
    for status in core_campaigns.CONTACT_STATUSES:
        counts.add_column(status, justify="right")
    counts.add_column("opted out", justify="right")
    counts.add_row(
        *(str(summary.by_status.get(status, 0)) for status in core_campaigns.CONTACT_STATUSES),
        str(summary.opted_out),
    )
    console.print(counts)


@app.command("show")
def show_cmd(campaign: str = CAMPAIGN_ARG) -> None:
    """Show a campaign: settings, hours, script tree, canned responses, tags, contacts by status."""
    with database() as db, refusals(), db.read() as session:
        show_campaign(session, campaign)


def apply_file(db: Database, path: Path) -> tuple[int, str, bool]:
    """Apply a campaign file; the campaign's id and title, and whether it was created."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"no file {escape(str(path))}: give the path of a campaign YAML file")
    except UnicodeDecodeError as exc:
        fail(f"{escape(str(path))} is not UTF-8 text (byte {exc.start}): save it as UTF-8 and apply it again")
    except OSError as exc:
        fail(f"cannot read {escape(str(path))}: {escape(exc.strerror or str(exc))}")
    with refusals(), yaml_refusals(), db.session() as session:
        campaign, created = apply_campaign_yaml(
            session, org_id(session), text, source=path.name, actor=cli_actor(session)
        )
        return campaign.id, campaign.title, created


@app.command("apply")
def apply_cmd(
    file: Path = typer.Argument(
        ..., metavar="FILE.yaml", help="A campaign file (see examples/campaign.yaml)."
    ),
) -> None:
    """Create a campaign from a YAML file, or update the live campaign with the same title."""
    with database() as db:
        campaign_id, title, created = apply_file(db, file)
    verb = "created draft campaign" if created else "updated campaign"
    console.print(f"{verb} [bold]{escape(title)}[/] (id {campaign_id}) from {escape(str(file))}")


@app.command("export")
def export_cmd(
    campaign: str = CAMPAIGN_ARG,
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Write a campaign as YAML (the format `apply` reads)."""
    with database() as db, refusals(), db.read() as session:
        found = core_campaigns.get_campaign(session, org_id(session), campaign)
        text = export_campaign_yaml(session, found)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {escape(str(output))}: {escape(exc.strerror or str(exc))}")
    console.print(f"wrote {escape(str(output))}")


@app.command("launch")
def launch_cmd(campaign: str = CAMPAIGN_ARG) -> None:
    """Launch a draft campaign: from now on its texts can be sent."""
    with database() as db, refusals(), db.session() as session:
        found = core_campaigns.get_campaign(session, org_id(session), campaign)
        core_campaigns.launch_campaign(session, found, actor=cli_actor(session))
        console.print(f"launched [bold]{escape(found.title)}[/] (id {found.id})")


@app.command("archive")
def archive_cmd(campaign: str = CAMPAIGN_ARG) -> None:
    """Archive a campaign: it sends nothing more and can no longer change."""
    with database() as db, refusals(), db.session() as session:
        found = core_campaigns.get_campaign(session, org_id(session), campaign)
        core_campaigns.archive_campaign(session, found, actor=cli_actor(session))
        console.print(f"archived [bold]{escape(found.title)}[/] (id {found.id})")
