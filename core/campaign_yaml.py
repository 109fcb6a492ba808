"""Campaigns as code: a campaign written as a YAML file, applied and exported losslessly.

The format (every key but ``title`` may be left out; what is left out takes its default)::

    title: GOTV November
    description: ...
    timezone: America/New_York
    hours: {start: "09:00", end: "21:00"}
    custom_fields: [pollingPlace]          # names scripts may use beside the built-in placeholders
    assignment: {dynamic_initials: true, initials_batch_size: 200, replies_before_initials: false,
                 max_initials_per_texter: null, dynamic_replies: false, replies_batch_size: 200,
                 release_unhandled_after_minutes: null, reply_reminder_minutes: 10}   # 0 = no reminders
    script:
      initial: "Hi {firstName}, it's {texterName} ..."
      question: Can we count on your vote?
      answers:
        - answer: "Yes"
          response: ...
          question: ...                    # optional follow-up question, with its own answers
          answers: [...]
    canned_responses: [{title: ..., text: ...}]
    tags: [{name: ..., description: ..., escalate: false, team: null}]

The document is read with ``yaml.compose`` so every problem is reported with its line and key path, e.g.
``campaign.yaml line 14, script.answers[1].response: ...``. Text values are taken as written, so
``answer: No`` is the text "No", not YAML's false, and ``end: 21:00`` is a time, not a base-60 number.

Applying a file is all-or-nothing: the whole file is checked before anything is written. The file is the
truth for everything it covers, with one exception: custom fields learnt from a contact import stay, since
the contacts carry them. A launched campaign takes only the changes a launched campaign allows
(see ``core.campaigns``); any other difference is refused with its line and the reason.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core import campaigns as core_campaigns
from core import scripts
from core.campaigns import ASSIGNMENT_DEFAULTS, ASSIGNMENT_FIELDS, CannedSpec, TagSpec
from core.errors import Refused
from core.hours import format_hhmm, parse_hhmm
from core.orgs import require_org_admin
from core.scripts import StepSpec
from storage.models import Campaign, User

# Deeper than any campaign needs (each follow-up question adds two levels): PyYAML composes a document
# recursively, so a file nested thousands of levels deep would otherwise end in a RecursionError.
MAX_DEPTH = 64
# The digits of a whole number in a campaign file: far beyond every setting's maximum, and short enough
# that nothing reads a number of thousands of digits.
_MAX_DIGITS = 30

_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"

TOP_KEYS = (
    "title",
    "description",
    "timezone",
    "hours",
    "custom_fields",
    "assignment",
    "script",
    "canned_responses",
    "tags",
)
SCRIPT_KEYS = ("initial", "question", "answers")
ANSWER_KEYS = ("answer", "response", "question", "answers")
CANNED_KEYS = ("title", "text")
TAG_KEYS = ("name", "description", "escalate", "team")
HOURS_KEYS = ("start", "end")


class CampaignYamlError(Refused):
    """A campaign file that cannot be applied; ``errors`` lists every problem, each with line and key."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        more = len(self.errors) - 1
        reason = self.errors[0] + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
        super().__init__(reason, code="bad_yaml")


@dataclass
class CampaignSpec:
    """A checked campaign file, with the line of every key path (for later errors)."""

    title: str
    description: str = ""
    timezone: str = "America/New_York"
    hours_start: int = 9 * 60
    hours_end: int = 21 * 60
    custom_fields: list[str] = field(default_factory=list)
    assignment: dict[str, Any] = field(default_factory=lambda: dict(ASSIGNMENT_DEFAULTS))
    script: StepSpec | None = None
    canned_responses: list[CannedSpec] = field(default_factory=list)
    tags: list[TagSpec] = field(default_factory=list)
    source: str = "FILE"
    lines: dict[str, int] = field(default_factory=dict)
    # Every text that may hold placeholders: (key path, line, text).
    texts: list[tuple[str, int, str]] = field(default_factory=list)

    def line(self, path: str) -> int:
        return self.lines.get(path) or self.lines.get(path.split(".")[0]) or 1

    def where(self, path: str) -> str:
        return f"{self.source} line {self.line(path)}, {path}"

    def placeholder_errors(self, custom_fields: Iterable[str]) -> list[str]:
        """Every unknown placeholder or unbalanced brace in the file's texts, with line and key."""
        return [message for _, message in self.placeholder_problems(custom_fields)]

    def placeholder_problems(self, custom_fields: Iterable[str]) -> list[tuple[int, str]]:
        fields = list(custom_fields)
        problems = []
        for path, line, text in self.texts:
            try:
                scripts.validate_script(text, fields, f"{self.source} line {line}, {path}")
            except Refused as exc:
                problems.append((line, exc.reason))
        return problems


_Problem = tuple[int, str]  # (line, message naming source, line and key path)


def _refuse(problems: list[_Problem]) -> CampaignYamlError:
    return CampaignYamlError([message for _, message in sorted(problems, key=lambda p: p[0])])


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[_Problem] = []
        self.lines: dict[str, int] = {}
        self.texts: list[tuple[str, int, str]] = []
        self._constructor = SafeConstructor()

    def error(self, node: Node, path: str, message: str) -> None:
        line = node.start_mark.line + 1
        self.errors.append((line, f"{self.source} line {line}, {path}: {message}"))

    def mapping(
        self, node: Node, path: str, keys: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Node] | None:
        """The values of a mapping by key, after refusing unknown, duplicate and missing keys."""
        self.lines.setdefault(path, node.start_mark.line + 1)
        if not isinstance(node, MappingNode):
            self.error(node, path, f"must be a mapping with the keys {', '.join(keys)}")
            return None
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            key_path = f"{path}.{key}" if path else str(key)
            if key not in keys:
                close = difflib.get_close_matches(str(key), keys, n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                self.error(key_node, key_path, f"unknown key: {hint}use one of {', '.join(keys)}")
                continue
            if key in out:
                self.error(key_node, key_path, "this key appears twice: keep one")
                continue
            self.lines[key_path] = key_node.start_mark.line + 1
            out[key] = value_node
        for key in required:
            if key not in out:
                self.error(node, f"{path}.{key}" if path else key, "this key is required: add it")
        return out

    def sequence(self, node: Node, path: str) -> list[Node]:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return []
        if not isinstance(node, SequenceNode):
            self.error(node, path, "must be a list (items starting with '- ')")
            return []
        return list(node.value)

    def text(self, node: Node, path: str, *, required: bool = False, placeholders: bool = False) -> str:
        """A text value exactly as written (so ``No`` stays "No" and ``21:00`` stays "21:00")."""
        if not isinstance(node, ScalarNode):
            self.error(node, path, "must be text, not a list or mapping (quote it if it holds ': ')")
            return ""
        value = "" if node.tag == _NULL else node.value
        if required and not value.strip():
            self.error(node, path, "is empty: give it a value")
        if placeholders:
            self.texts.append((path, node.start_mark.line + 1, value))
        return value

    def boolean(self, node: Node, path: str) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            return bool(self._constructor.construct_object(node))
        self.error(node, path, f"must be true or false, not {_shown(node)}")
        return None

    def optional_text(self, node: Node, path: str) -> str | None:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return None
        return self.text(node, path, required=True)

    def integer(self, node: Node, path: str) -> Any:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return None
        if isinstance(node, ScalarNode) and node.tag == _INT and ":" not in node.value:
            if len(node.value) > _MAX_DIGITS:
                self.error(node, path, f"must be a whole number, not one of {len(node.value)} digits")
                return _INVALID
            return self._constructor.construct_object(node)
        self.error(node, path, f"must be a whole number, not {_shown(node)}")
        return _INVALID

    def check(self, node: Node, path: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, with a core refusal reported at ``node``."""
        try:
            return fn(*args)
        except Refused as exc:
            self.error(node, path, exc.reason)
            return _INVALID


_INVALID = object()


class _NotAccepted(yaml.composer.ComposerError):
    """A readable YAML document that a campaign file may not be: too deep, or using aliases."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with a depth limit, and without aliases (``*name``).

    An alias makes one node appear in several places (or inside itself): the reader would walk it again
    at every place, without end for a node that holds itself. A campaign file writes each value out.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def _next_mark(self) -> yaml.Mark:
        events: Any = self  # PyYAML's parser methods are untyped
        mark: yaml.Mark = events.peek_event().start_mark
        return mark

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self._next_mark()
            raise _NotAccepted(
                None, None, "uses an alias (*name): write the value out where it is needed", mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self._next_mark()
                raise _NotAccepted(
                    None,
                    None,
                    f"is nested more than {MAX_DEPTH} levels deep: a campaign file needs far fewer, "
                    "check the indentation and the brackets",
                    mark,
                )
            node: Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1


def _shown(node: Node) -> str:
    if isinstance(node, ScalarNode):
        return repr(node.value) if node.tag != _NULL else "null"
    return "a list" if isinstance(node, SequenceNode) else "a mapping"


def _parse(text: str, source: str) -> tuple[CampaignSpec | None, list[_Problem]]:
    """Read and check the structure of a campaign file (placeholders are checked by the caller)."""
    reader = _Reader(source)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except _NotAccepted as exc:
        mark = exc.problem_mark
        number = mark.line + 1 if mark is not None else 1
        return None, [(number, f"{source} line {number}: the file {exc.problem}")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        number = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "unreadable"
        return None, [
            (
                number,
                f"{source} line {number}: not valid YAML ({problem}): check the indentation, and quote "
                "text that holds ': ' or starts with a special character such as { [ * & ! | > ' \" % @ `",
            )
        ]
    except yaml.YAMLError as exc:
        return None, [(1, f"{source}: not valid YAML ({exc}): fix the file and apply it again")]
    if root is None:
        return None, [(1, f"{source} line 1: the file is empty: start it with `title: ...` (see examples/)")]
    top = reader.mapping(root, "", TOP_KEYS, required=("title",))
    if top is None:
        return None, reader.errors
    spec = CampaignSpec(title="", source=source)

    if "title" in top:
        title = reader.text(top["title"], "title", required=True)
        if title.strip():
            spec.title = reader.check(top["title"], "title", core_campaigns.check_title, title) or ""
    if "description" in top:
        spec.description = reader.text(top["description"], "description")
    if "timezone" in top:
        tz = reader.text(top["timezone"], "timezone", required=True)
        if tz.strip():
            checked = reader.check(top["timezone"], "timezone", core_campaigns.check_timezone, tz)
            spec.timezone = checked if isinstance(checked, str) else spec.timezone
    if "hours" in top:
        hours = reader.mapping(top["hours"], "hours", HOURS_KEYS) or {}
        for key in HOURS_KEYS:
            if key in hours:
                clock = reader.text(hours[key], f"hours.{key}", required=True)
                if clock.strip():
                    minutes = reader.check(hours[key], f"hours.{key}", parse_hhmm, clock)
                    if isinstance(minutes, int):
                        setattr(spec, f"hours_{key}", minutes)
    if "custom_fields" in top:
        names = []
        for index, item in enumerate(reader.sequence(top["custom_fields"], "custom_fields")):
            names.append(reader.text(item, f"custom_fields[{index}]", required=True))
        checked = reader.check(
            top["custom_fields"], "custom_fields", core_campaigns.check_custom_fields, names
        )
        spec.custom_fields = checked if isinstance(checked, list) else []
    if "assignment" in top:
        settings = reader.mapping(top["assignment"], "assignment", ASSIGNMENT_FIELDS) or {}
        for key, node in settings.items():
            path = f"assignment.{key}"
            if key in ("dynamic_initials", "replies_before_initials", "dynamic_replies"):
                value: Any = reader.boolean(node, path)
                if value is None:
                    continue
            else:
                value = reader.integer(node, path)
                if value is _INVALID:
                    continue
            checked = reader.check(node, path, core_campaigns.check_assignment_setting, key, value)
            if checked is not _INVALID:
                spec.assignment[key] = checked
        if "reply_reminder_minutes" in settings or "release_unhandled_after_minutes" in settings:
            key = (
                "reply_reminder_minutes"
                if "reply_reminder_minutes" in settings
                else "release_unhandled_after_minutes"
            )
            reader.check(
                settings[key],
                f"assignment.{key}",
                core_campaigns.check_reminder_before_release,
                spec.assignment["reply_reminder_minutes"],
                spec.assignment["release_unhandled_after_minutes"],
            )
    if "script" in top:
        spec.script = _read_script(reader, top["script"])
    if "canned_responses" in top:
        seen: set[str] = set()
        for index, item in enumerate(reader.sequence(top["canned_responses"], "canned_responses")):
            path = f"canned_responses[{index}]"
            values = reader.mapping(item, path, CANNED_KEYS, required=CANNED_KEYS)
            if values is None or any(k not in values for k in CANNED_KEYS):
                continue
            title = reader.text(values["title"], f"{path}.title", required=True).strip()
            body = reader.text(values["text"], f"{path}.text", required=True, placeholders=True)
            if title.casefold() in seen and title:
                reader.error(
                    values["title"], f"{path}.title", f"{title!r} is used twice: give each a distinct title"
                )
            seen.add(title.casefold())
            spec.canned_responses.append(CannedSpec(title=title, text=body))
    if "tags" in top:
        seen_tags: set[str] = set()
        for index, item in enumerate(reader.sequence(top["tags"], "tags")):
            path = f"tags[{index}]"
            values = reader.mapping(item, path, TAG_KEYS, required=("name",))
            if values is None or "name" not in values:
                continue
            name = reader.text(values["name"], f"{path}.name", required=True).strip()
            if name in seen_tags and name:
                reader.error(values["name"], f"{path}.name", f"tag {name!r} is listed twice: list it once")
            seen_tags.add(name)
            description = (
                reader.text(values["description"], f"{path}.description") if "description" in values else ""
            )
            escalate = (
                reader.boolean(values["escalate"], f"{path}.escalate") if "escalate" in values else False
            )
            team = reader.optional_text(values["team"], f"{path}.team") if "team" in values else None
            if team is not None and escalate is False:
                reader.error(
                    values["team"],
                    f"{path}.team",
                    "only an escalation tag hands conversations to a team: set escalate: true or remove team",
                )
            spec.tags.append(
                TagSpec(
                    name=name,
                    description=description,
                    escalate=bool(escalate),
                    team=team.strip() if team else None,
                )
            )
    spec.lines = reader.lines
    spec.texts = reader.texts
    return spec, reader.errors


def _read_script(reader: _Reader, node: Node) -> StepSpec | None:
    values = reader.mapping(node, "script", SCRIPT_KEYS, required=("initial",))
    if values is None or "initial" not in values:
        return None
    root = StepSpec(script=reader.text(values["initial"], "script.initial", required=True, placeholders=True))
    _read_question(reader, root, values, "script", node)
    return root


def _read_question(reader: _Reader, step: StepSpec, values: dict[str, Node], path: str, node: Node) -> None:
    if "question" in values:
        step.question = reader.text(values["question"], f"{path}.question", placeholders=True)
    if "answers" not in values:
        return
    items = reader.sequence(values["answers"], f"{path}.answers")
    if items and not step.question.strip():
        reader.error(
            values["answers"],
            f"{path}.answers",
            "answers without a question: add a question, or remove the answers",
        )
    seen: set[str] = set()
    for index, item in enumerate(items):
        item_path = f"{path}.answers[{index}]"
        child_values = reader.mapping(item, item_path, ANSWER_KEYS, required=("answer", "response"))
        if child_values is None:
            continue
        answer = ""
        if "answer" in child_values:
            answer = reader.text(child_values["answer"], f"{item_path}.answer", required=True).strip()
            if len(answer) > scripts.MAX_ANSWER_LENGTH:
                reader.error(
                    child_values["answer"],
                    f"{item_path}.answer",
                    f"longer than {scripts.MAX_ANSWER_LENGTH} characters: shorten it",
                )
            if answer and answer.casefold() in seen:
                reader.error(
                    child_values["answer"],
                    f"{item_path}.answer",
                    f"{answer!r} appears twice on one question: give each answer once",
                )
            seen.add(answer.casefold())
        response = ""
        if "response" in child_values:
            response = reader.text(
                child_values["response"], f"{item_path}.response", required=True, placeholders=True
            )
        child = StepSpec(script=response, answer=answer)
        _read_question(reader, child, child_values, item_path, item)
        step.answers.append(child)


def parse_campaign_yaml(text: str, source: str = "FILE", extra_fields: Iterable[str] = ()) -> CampaignSpec:
    """Check a campaign file on its own; placeholders may use its custom_fields and ``extra_fields``."""
    spec, problems = _parse(text, source)
    if spec is not None:
        problems += spec.placeholder_problems([*spec.custom_fields, *extra_fields])
    if problems or spec is None:
        raise _refuse(problems)
    return spec


def _live_campaign(session: Session, org_id: int, title: str) -> Campaign | None:
    return session.scalars(
        select(Campaign).where(
            Campaign.organization_id == org_id,
            Campaign.kind == "campaign",
            Campaign.title == title,
            Campaign.status != "archived",
        )
    ).first()


def _launched_conflicts(
    session: Session, campaign: Campaign, spec: CampaignSpec, fields: list[str]
) -> list[_Problem]:
    allowed = (
        "a launched campaign may change its description, hours, assignment settings, canned responses "
        "and tags"
    )
    fixed: list[tuple[str, str, str]] = []
    if spec.timezone != campaign.timezone:
        fixed.append(("timezone", "time zone", "contacts' zones were derived from it at import"))
    if set(fields) != set(campaign.custom_fields or []):
        fixed.append(("custom_fields", "custom fields", "its script, which uses them, is fixed"))
    if spec.script != scripts.load_tree(session, campaign.id):
        fixed.append(
            (
                "script",
                "script",
                "texters have sent it and contacts' answers are recorded against it; "
                "put a new script in a new campaign with another title",
            )
        )
    return [
        (
            spec.line(key),
            f"{spec.where(key)}: campaign {campaign.title!r} is launched, so its {what} cannot change "
            f"({reason}); {allowed}",
        )
        for key, what, reason in fixed
    ]


def apply_campaign_yaml(
    session: Session, org_id: int, text: str, source: str = "FILE", *, actor: User
) -> tuple[Campaign, bool]:
    """An admin creates the campaign the file describes, or updates the live one with its title.

    Returns the campaign and whether it was created. Raises ``CampaignYamlError`` listing every problem
    (with line and key) before anything is written.
    """
    require_org_admin(actor, org_id)
    spec, problems = _parse(text, source)
    if spec is None:
        raise _refuse(problems)
    existing = _live_campaign(session, org_id, spec.title) if spec.title else None
    fields = list(spec.custom_fields)
    if existing is not None and core_campaigns.has_contacts(session, existing.id):
        fields += [name for name in existing.custom_fields or [] if name not in fields]
    problems += spec.placeholder_problems(fields)
    if not problems and existing is not None and existing.status == "launched":
        problems += _launched_conflicts(session, existing, spec, fields)
    if problems:
        raise _refuse(problems)

    if existing is None:
        campaign = core_campaigns.create_campaign(
            session,
            org_id,
            actor=actor,
            title=spec.title,
            description=spec.description,
            timezone=spec.timezone,
            hours_start=spec.hours_start,
            hours_end=spec.hours_end,
            custom_fields=fields,
        )
    else:
        campaign = existing
        changes: dict[str, Any] = {
            "description": spec.description,
            "hours_start": spec.hours_start,
            "hours_end": spec.hours_end,
        }
        if campaign.status == "draft":
            changes.update(timezone=spec.timezone, custom_fields=fields)
            # The old script and canned responses go first: they may use a custom field the file drops.
            if spec.script != scripts.load_tree(session, campaign.id):
                core_campaigns.set_script(session, campaign, None)
            core_campaigns.set_canned_responses(session, campaign, [])
        core_campaigns.update_campaign(session, campaign, actor=actor, **changes)
    core_campaigns.update_assignment_settings(session, campaign, actor=actor, **spec.assignment)
    if campaign.status == "draft" and spec.script != scripts.load_tree(session, campaign.id):
        core_campaigns.set_script(session, campaign, spec.script)
    core_campaigns.set_canned_responses(session, campaign, spec.canned_responses)
    core_campaigns.set_tags(session, campaign, spec.tags)
    return campaign, existing is None


# --- export ------------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as people write them.
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Multi-line scripts read best as literal blocks; PyYAML falls back to quoting when a block cannot
    # hold the text exactly (e.g. trailing spaces).
    style = "|" if "\n" in data else None
    if any(ch in data for ch in _UNICODE_BREAKS):
        # PyYAML writes these line breaks raw in single-quoted and block scalars, and reads NEL back as a
        # space: double quotes escape them (\N, \L, \P) and so keep them.
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_UNICODE_BREAKS = ("\x85", "\u2028", "\u2029")


class _Quoted(str):
    """A text written in quotes, so no YAML reader mistakes ``09:30`` for a number."""


def _represent_quoted(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style='"')


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Quoted, _represent_quoted)


def _step_doc(step: StepSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {"answer": step.answer, "response": step.script}
    if step.question:
        doc["question"] = step.question
    if step.answers:
        doc["answers"] = [_step_doc(child) for child in step.answers]
    return doc


def campaign_document(session: Session, campaign: Campaign) -> dict[str, Any]:
    """The campaign as the plain data a campaign file holds."""
    doc: dict[str, Any] = {
        "title": campaign.title,
        "description": campaign.description or "",
        "timezone": campaign.timezone,
        "hours": {
            "start": _Quoted(format_hhmm(campaign.hours_start)),
            "end": _Quoted(format_hhmm(campaign.hours_end)),
        },
        "custom_fields": list(campaign.custom_fields or []),
        "assignment": {name: getattr(campaign, name) for name in ASSIGNMENT_FIELDS},
    }
    tree = scripts.load_tree(session, campaign.id)
    if tree is not None:
        script: dict[str, Any] = {"initial": tree.script}
        if tree.question:
            script["question"] = tree.question
        if tree.answers:
            script["answers"] = [_step_doc(child) for child in tree.answers]
        doc["script"] = script
    doc["canned_responses"] = [
        {"title": r.title, "text": r.text} for r in core_campaigns.canned_responses(session, campaign.id)
    ]
    doc["tags"] = [
        {
            "name": tag.name,
            "description": tag.description or "",
            "escalate": bool(tag.is_escalation),
            "team": team.name if team is not None and tag.is_escalation else None,
        }
        for tag, team in core_campaigns.campaign_tags(session, campaign.id)
    ]
    return doc


def export_campaign_yaml(session: Session, campaign: Campaign) -> str:
    """The campaign as a campaign file; applying it gives the same campaign back."""
    return dump_document(campaign_document(session, campaign))


def dump_document(doc: dict[str, Any]) -> str:
    """A campaign document as YAML text, every text value read back exactly as it is."""
    return yaml.dump(
        doc,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 30,  # one line per text: diffs of a script stay readable
    )
