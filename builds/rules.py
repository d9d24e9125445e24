"""Build rules, as on Docker Hub: which pushed branch or tag a rule builds,
and which Docker tags it produces. Pure code, no Django: unit-tested on
strings alone.

A rule's source is a branch or tag name, or a ``/regex/`` that must match
the whole name. Its Docker tag template is a comma-separated list of tags,
each a fixed name or one built from ``{sourceref}`` (the pushed name) and
``{\\1}``…``{\\9}`` (the regex's captures)."""

import re
from dataclasses import dataclass

from repositories.oci.names import TAG_RE

BRANCH = "branch"
TAG = "tag"
SOURCE_TYPES = (BRANCH, TAG)

PLACEHOLDER_RE = re.compile(r"\{(sourceref|\\[1-9])\}")
TAG_CHARACTER_RE = re.compile(r"[A-Za-z0-9_.-]")
TAG_FIRST_CHARACTER_RE = re.compile(r"[A-Za-z0-9_]")
TAG_MAX_LENGTH = 128


class RuleInvalid(ValueError):
    """A rule that can never build, or can produce a tag the registry refuses."""


@dataclass(frozen=True)
class Rule:
    source_type: str
    source: str
    docker_tag: str


@dataclass(frozen=True)
class RuleMatch:
    rule: object  # any object with source_type, source and docker_tag
    tags: tuple[str, ...]


def default_rule(default_branch):
    """Docker Hub's default: the default branch builds ``latest``."""
    return Rule(source_type=BRANCH, source=default_branch, docker_tag="latest")


def is_regex(source):
    return len(source) >= 2 and source.startswith("/") and source.endswith("/")


def source_pattern(source):
    """The compiled regex of a ``/regex/`` source."""
    try:
        return re.compile(source[1:-1])
    except re.error as error:
        raise RuleInvalid(
            f"The source {source} is not a valid regular expression: {error}."
        ) from error


def match_source(rule, ref_type, ref_name):
    """The ``re.Match`` (or True for a name) when ``rule`` builds this ref; None otherwise."""
    if rule.source_type != ref_type:
        return None
    if is_regex(rule.source):
        try:
            return source_pattern(rule.source).fullmatch(ref_name)
        except RuleInvalid:
            return None
    return True if rule.source == ref_name else None


def template_parts(template):
    """The comma-separated tag templates of ``template``, stripped, empty ones dropped."""
    return [part.strip() for part in template.split(",") if part.strip()]


def render_tag(template, ref_name, match=None):
    """One tag template filled in with the ref name and the regex's captures;
    a capture that did not take part in the match is empty."""

    def replace(placeholder):
        name = placeholder.group(1)
        if name == "sourceref":
            return ref_name
        if not isinstance(match, re.Match):
            raise RuleInvalid(f"{{{name}}} needs a /regex/ source.")
        return match.group(int(name[1:])) or ""

    return PLACEHOLDER_RE.sub(replace, template)


def render_tags(rule, ref_name, match=None):
    """Every tag the rule's template produces for ``ref_name``, in order, without repeats."""
    tags = []
    for template in template_parts(rule.docker_tag):
        tag = render_tag(template, ref_name, match)
        if tag not in tags:
            tags.append(tag)
    return tags


def match_push(rules, ref_type, ref_name):
    """The rules that build a push of ``ref_name`` (a branch or tag), each with
    the tags it produces, and the reasons other rules that matched the name
    produced nothing the registry would accept.

    Returns ``(matches, problems)``."""
    matches, problems = [], []
    for rule in rules:
        match = match_source(rule, ref_type, ref_name)
        if match is None:
            continue
        tags = render_tags(rule, ref_name, match)
        refused = [tag for tag in tags if not TAG_RE.match(tag)]
        if refused:
            problems.append(
                f"Rule {rule.source} → {rule.docker_tag} would produce "
                f"{', '.join(repr(tag) for tag in refused)}, which is not a valid Docker tag."
            )
            continue
        if tags:
            matches.append(RuleMatch(rule=rule, tags=tuple(tags)))
    return matches, problems


def validate_rule(source_type, source, docker_tag):
    """Raise ``RuleInvalid`` with a message for the user when the rule can
    never build or can produce a tag the registry would refuse."""
    if source_type not in SOURCE_TYPES:
        raise RuleInvalid(f"The source type must be one of {', '.join(SOURCE_TYPES)}.")
    if not source:
        raise RuleInvalid("The source needs a branch or tag name, or a /regex/.")
    templates = template_parts(docker_tag)
    if not templates:
        raise RuleInvalid("The Docker tag needs a name, {sourceref} or a capture such as {\\1}.")
    if is_regex(source):
        groups = source_pattern(source).groups
        for template in templates:
            _validate_regex_template(template, groups)
    else:
        for template in templates:
            if "{\\" in template:
                raise RuleInvalid(
                    f"The Docker tag {template!r} uses a capture, but the source {source!r} "
                    "is a name, not a /regex/."
                )
            _check_braces(template)
            tag = render_tag(template, source)
            if not TAG_RE.match(tag):
                raise RuleInvalid(_refused(template, tag))


def _check_braces(template):
    leftover = PLACEHOLDER_RE.sub("", template)
    if "{" in leftover or "}" in leftover:
        raise RuleInvalid(
            f"The Docker tag {template!r} has an unknown placeholder: only {{sourceref}} and "
            "{\\1}…{\\9} are replaced."
        )


def _validate_regex_template(template, groups):
    """What can be known before the name is: the placeholders are known,
    captures exist in the regex, and the literal text is made of tag
    characters (first character and length included)."""
    _check_braces(template)
    for placeholder in PLACEHOLDER_RE.findall(template):
        if placeholder != "sourceref" and int(placeholder[1:]) > groups:
            raise RuleInvalid(
                f"The Docker tag {template!r} uses {{{placeholder}}}, but the regex has "
                f"{groups} capture group{'s' if groups != 1 else ''}."
            )
    pieces = PLACEHOLDER_RE.split(template)
    literals = pieces[0::2]  # split() puts the placeholders' names at odd indexes
    for literal in literals:
        for character in literal:
            if not TAG_CHARACTER_RE.fullmatch(character):
                raise RuleInvalid(
                    f"The Docker tag {template!r} contains {character!r}; a tag may contain "
                    "only letters, digits, '_', '.' and '-'."
                )
    if literals[0] and not TAG_FIRST_CHARACTER_RE.fullmatch(literals[0][0]):
        raise RuleInvalid(
            f"The Docker tag {template!r} starts with {literals[0][0]!r}; a tag must start "
            "with a letter, a digit or '_'."
        )
    if sum(len(literal) for literal in literals) > TAG_MAX_LENGTH:
        raise RuleInvalid(
            f"The Docker tag {template!r} is longer than {TAG_MAX_LENGTH} characters."
        )


def _refused(template, tag):
    if template == tag:
        return (
            f"{tag!r} is not a valid Docker tag: up to {TAG_MAX_LENGTH} letters, digits, '_', "
            "'.' and '-', not starting with '.' or '-'."
        )
    return (
        f"The Docker tag {template!r} produces {tag!r}, which is not a valid Docker tag: up to "
        f"{TAG_MAX_LENGTH} letters, digits, '_', '.' and '-', not starting with '.' or '-'."
    )
