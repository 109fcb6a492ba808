"""Scripts: ``{placeholder}`` rendering and validation, and the campaign's script tree.

Placeholders are ``{name}``; ``{{`` and ``}}`` write a literal brace. Known names are the standard ones
(``{firstName}``, ``{lastName}``, ``{texterName}``), the contact columns ``{zip}`` and ``{externalId}``,
and the campaign's custom fields (declared in its YAML or learnt from a contact import). An unknown name
is refused when a script is saved (``validate_script``), so rendering at send time never fails on one.

The tree (``InteractionStep`` rows): the root holds the initial message in ``script`` and the first
question; each child is reached by ``answer_option`` on its parent's question, holds the prepared response
in ``script`` and, optionally, the next ``question``.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.errors import Refused
from storage.models import Campaign, Contact, InteractionStep

STANDARD_PLACEHOLDERS = frozenset({"firstName", "lastName", "texterName"})
# Contact columns a script may use too, beside the standard names.
CONTACT_PLACEHOLDERS = frozenset({"zip", "externalId"})
BUILTIN_PLACEHOLDERS = STANDARD_PLACEHOLDERS | CONTACT_PLACEHOLDERS

MAX_ANSWER_LENGTH = 200  # InteractionStep.answer_option
_FORMATTER = string.Formatter()


def _tokens(text: str) -> list[tuple[str, str | None]]:
    """``text`` as (literal, placeholder name or None) pairs; ValueError on an unbalanced brace."""
    out: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in _FORMATTER.parse(text or ""):
        if name is None:
            out.append((literal, None))
            continue
        # str.format's {a!r} and {a:>5} have no meaning in a text message: keep the whole thing as the name
        # so it is reported as written.
        full = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
        out.append((literal, full))
    return out


def _checked_tokens(text: str, where: str) -> list[tuple[str, str | None]]:
    try:
        return _tokens(text)
    except ValueError as exc:
        raise Refused(
            f"{where}: unbalanced brace ({exc}): write placeholders as {{firstName}}, "
            "and a literal brace as {{ or }}"
        ) from exc


def placeholders(text: str) -> set[str]:
    """The placeholder names used in ``text`` (``{{`` and ``}}`` are literal braces, not placeholders).

    Refused when a brace is unbalanced, since then no name can be read reliably.
    """
    return {name for _, name in _checked_tokens(text, "this script") if name is not None}


def unknown_placeholders(text: str, custom_fields: Iterable[str]) -> set[str]:
    """The names in ``text`` that are neither built in nor one of ``custom_fields``."""
    known = BUILTIN_PLACEHOLDERS | set(custom_fields)
    return {name for name in placeholders(text) if name not in known}


def validate_script(text: str, custom_fields: Iterable[str], where: str) -> None:
    """Refuse ``text`` if a brace is unbalanced or a placeholder is unknown; ``where`` names the script."""
    fields = list(custom_fields)
    for _, name in _checked_tokens(text, where):
        if name is None:
            continue
        if name == "":
            raise Refused(
                f"{where}: empty placeholder {{}}: put a name inside, e.g. {{firstName}}, "
                "or write {{}} for literal braces"
            )
        if name not in BUILTIN_PLACEHOLDERS and name not in fields:
            raise Refused(f"{where}: unknown placeholder {{{name}}}: {_placeholder_fix(name, fields)}")


def _placeholder_fix(name: str, custom_fields: list[str]) -> str:
    known = sorted(BUILTIN_PLACEHOLDERS) + sorted(custom_fields)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    lowered = {k.lower(): k for k in known}
    hint = close[0] if close else lowered.get(name.lower())
    available = ", ".join("{" + k + "}" for k in known)
    if hint:
        return f"did you mean {{{hint}}}? Known placeholders: {available}"
    return (
        f"use one of {available}, or declare {name!r} under custom_fields "
        "(or import contacts with that column) first"
    )


def render(
    text: str,
    *,
    first_name: str,
    last_name: str,
    texter_name: str,
    custom_fields: Mapping[str, str],
    zip: str = "",
    external_id: str = "",
) -> str:
    """``text`` with its placeholders filled in; a field a contact lacks renders as empty text."""
    values: dict[str, str] = {str(k): "" if v is None else str(v) for k, v in custom_fields.items()}
    values.update(
        firstName=first_name or "",
        lastName=last_name or "",
        texterName=texter_name or "",
        zip=zip or "",
        externalId=external_id or "",
    )
    tokens = _checked_tokens(text, "this script")
    return "".join(literal + (values.get(name, "") if name is not None else "") for literal, name in tokens)


def render_for_contact(text: str, contact: Contact, texter_name: str) -> str:
    return render(
        text,
        first_name=contact.first_name,
        last_name=contact.last_name,
        texter_name=texter_name,
        custom_fields=contact.custom_fields or {},
        zip=contact.zip,
        external_id=contact.external_id,
    )


# --- the script tree -------------------------------------------------------------------------------------


@dataclass
class StepSpec:
    """One node of a script tree as plain data.

    For the root, ``script`` is the initial message and ``answer`` is empty; for a child, ``answer`` is
    the answer option on its parent's question and ``script`` the prepared response.
    """

    script: str
    question: str = ""
    answer: str = ""
    answers: list[StepSpec] = field(default_factory=list)

    def walk(self, path: str = "script") -> Iterable[tuple[str, StepSpec]]:
        """Every node with a path naming it (``script``, ``script.answers[0]``, ...), parents first."""
        yield path, self
        for index, child in enumerate(self.answers):
            yield from child.walk(f"{path}.answers[{index}]")


def validate_tree(spec: StepSpec, custom_fields: Iterable[str]) -> None:
    """Refuse a tree with an empty initial message, a bad answer list, or an unknown placeholder."""
    fields = list(custom_fields)
    if not spec.script.strip():
        raise Refused("script.initial: the initial message is empty: write the first text contacts get")
    for path, node in spec.walk():
        is_root = node is spec
        validate_script(node.script, fields, f"{path}.initial" if is_root else f"{path}.response")
        validate_script(node.question, fields, f"{path}.question")
        if node.answers and not node.question.strip():
            raise Refused(
                f"{path}: answers without a question: add a question for them, or remove the answers"
            )
        seen: set[str] = set()
        for index, child in enumerate(node.answers):
            where = f"{path}.answers[{index}].answer"
            answer = child.answer.strip()
            if not answer:
                raise Refused(f"{where}: the answer is empty: give it the text texters pick, e.g. Yes")
            if len(answer) > MAX_ANSWER_LENGTH:
                raise Refused(
                    f"{where}: the answer is longer than {MAX_ANSWER_LENGTH} characters: shorten it"
                )
            if answer.casefold() in seen:
                raise Refused(f"{where}: {answer!r} appears twice on one question: give each answer once")
            seen.add(answer.casefold())


def root_step(session: Session, campaign_id: int) -> InteractionStep | None:
    return session.scalars(
        select(InteractionStep)
        .where(InteractionStep.campaign_id == campaign_id, InteractionStep.parent_id.is_(None))
        .order_by(InteractionStep.id)
        .limit(1)
    ).first()


def child_steps(session: Session, step_id: int) -> list[InteractionStep]:
    return list(
        session.scalars(
            select(InteractionStep)
            .where(InteractionStep.parent_id == step_id)
            .order_by(InteractionStep.position, InteractionStep.id)
        )
    )


def load_tree(session: Session, campaign_id: int) -> StepSpec | None:
    """The campaign's tree as a ``StepSpec`` (one query), or None when it has no script."""
    steps = list(
        session.scalars(
            select(InteractionStep)
            .where(InteractionStep.campaign_id == campaign_id)
            .order_by(InteractionStep.position, InteractionStep.id)
        )
    )
    children: dict[int | None, list[InteractionStep]] = {}
    for step in steps:
        children.setdefault(step.parent_id, []).append(step)
    roots = children.get(None, [])
    if not roots:
        return None

    def build(step: InteractionStep) -> StepSpec:
        return StepSpec(
            script=step.script,
            question=step.question,
            answer=step.answer_option,
            answers=[build(child) for child in children.get(step.id, [])],
        )

    return build(min(roots, key=lambda s: s.id))


def replace_tree(session: Session, campaign: Campaign, spec: StepSpec | None) -> None:
    """Rewrite the campaign's interaction steps from ``spec`` (None removes the script).

    Only a draft's tree may change: question responses of a launched campaign point at its steps.
    """
    if campaign.status != "draft":
        raise Refused(
            f"campaign {campaign.title!r} is {campaign.status}: its script cannot change because texters "
            "have sent it and answers are recorded against it; create a new campaign for a new script"
        )
    if spec is not None:
        validate_tree(spec, campaign.custom_fields or [])
    session.execute(delete(InteractionStep).where(InteractionStep.campaign_id == campaign.id))
    if spec is None:
        session.flush()
        return

    def add(node: StepSpec, parent_id: int | None, position: int) -> None:
        step = InteractionStep(
            campaign_id=campaign.id,
            parent_id=parent_id,
            answer_option=node.answer.strip(),
            script=node.script,
            question=node.question,
            position=position,
        )
        session.add(step)
        session.flush()
        for index, child in enumerate(node.answers):
            add(child, step.id, index)

    add(spec, None, 0)
    session.flush()
