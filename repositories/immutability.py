"""Immutable tags: which tags may no longer move or go, and the rules that say so.

A tag is immutable when a rule of its repository, or of the repository's
namespace, matches its name (repositories.oci.tag_patterns). The services
that move and delete tags ask ``check_tag_change`` inside their transaction;
pages and the API ask ``tag_is_immutable`` and ``immutable_tags`` to show it."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from .models import ImmutableTagRule, Tag
from .oci import tag_patterns

MOVE = "move"
DELETE = "delete"


class TagImmutable(Exception):
    """A change to a tag that a rule protects; the message is for a person."""

    def __init__(self, *, repository, tag, rule, change):
        where = "" if rule.repository_id else f" of {rule.namespace.name}"
        advice = "push a new tag instead" if change == MOVE else "it cannot be deleted"
        super().__init__(
            f"tag {tag} is immutable in {repository.full_name} "
            f"(rule '{rule.pattern}'{where}); {advice}"
        )
        self.tag = tag
        self.rule = rule


def rules_for(repository):
    """The rules that apply to ``repository``: its own, then its namespace's."""
    return (
        ImmutableTagRule.objects.filter(
            Q(repository=repository) | Q(namespace_id=repository.namespace_id)
        )
        .select_related("namespace")
        .order_by("namespace_id", "pattern")
    )


def first_match(rules, tag):
    """Of ``rules`` (a list, as rules_for gives), the first that matches ``tag``."""
    return next((rule for rule in rules if tag_patterns.matches(rule.pattern, tag)), None)


def matching_rule(repository, tag):
    """The rule that makes ``tag`` immutable in ``repository``, or None."""
    return first_match(list(rules_for(repository)), tag)


def tag_is_immutable(repository, tag):
    return matching_rule(repository, tag) is not None


def immutable_tags(repository, tags):
    """Of the tag names ``tags``, those immutable in ``repository``, with their rule."""
    rules = list(rules_for(repository))
    if not rules:
        return {}
    found = {tag: first_match(rules, tag) for tag in tags}
    return {tag: rule for tag, rule in found.items() if rule is not None}


def check_tag_change(repository, tag, change):
    """Raise TagImmutable if a rule protects the existing tag ``tag``."""
    rule = matching_rule(repository, tag)
    if rule is not None:
        raise TagImmutable(repository=repository, tag=tag, rule=rule, change=change)


def check_manifest_delete(repository, manifest):
    """Raise TagImmutable if deleting ``manifest`` would take an immutable
    tag with it: one that points at it, or at an index that holds it."""
    held_by = [manifest.pk, *manifest.parents.values_list("pk", flat=True)]
    names = Tag.objects.filter(repository=repository, manifest_id__in=held_by).values_list(
        "name", flat=True
    )
    protected = immutable_tags(repository, sorted(names))
    if protected:
        tag, rule = next(iter(protected.items()))
        raise TagImmutable(repository=repository, tag=tag, rule=rule, change=DELETE)


# The rules ------------------------------------------------------------------------


@transaction.atomic
def rule_create(*, pattern, repository=None, namespace=None, creator=None):
    """Add a rule to a repository or a namespace (exactly one). Raises
    ValidationError for a pattern that is invalid or there already."""
    if (repository is None) == (namespace is None):
        raise TypeError("a rule belongs to a repository or to a namespace")
    rule = ImmutableTagRule(
        repository=repository,
        namespace=namespace,
        pattern=pattern,
        created_by=creator if getattr(creator, "is_authenticated", False) else None,
    )
    rule.full_clean(exclude=["repository", "namespace", "created_by"])
    owner = {"repository": repository} if repository else {"namespace": namespace}
    if ImmutableTagRule.objects.filter(pattern=pattern, **owner).exists():
        raise ValidationError({"pattern": [f"The rule '{pattern}' is there already."]})
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:  # added meanwhile by another request
        raise ValidationError({"pattern": [f"The rule '{pattern}' is there already."]}) from None
    return rule


@transaction.atomic
def rule_delete(*, rule):
    rule.delete()
