import pytest

from builds import rules
from builds.rules import Rule, RuleInvalid, match_push, render_tags, validate_rule


def tags_for(rule, ref_type, ref_name):
    matches, problems = match_push([rule], ref_type, ref_name)
    assert not problems
    return [list(match.tags) for match in matches]


def test_default_rule_builds_the_default_branch_as_latest():
    rule = rules.default_rule("main")
    assert tags_for(rule, "branch", "main") == [["latest"]]
    assert tags_for(rule, "branch", "develop") == []
    assert tags_for(rule, "tag", "main") == []


def test_exact_names_match_exactly():
    rule = Rule("branch", "release", "stable")
    assert tags_for(rule, "branch", "release") == [["stable"]]
    assert tags_for(rule, "branch", "release-2") == []
    assert tags_for(rule, "branch", "pre-release") == []


def test_sourceref_is_the_pushed_name():
    assert tags_for(Rule("tag", "v1.0", "{sourceref}"), "tag", "v1.0") == [["v1.0"]]


def test_regex_must_match_the_whole_name_and_captures_fill_the_tag():
    rule = Rule("tag", r"/^v([0-9.]+)$/", r"{\1}")
    assert tags_for(rule, "tag", "v1.2.3") == [["1.2.3"]]
    assert tags_for(rule, "tag", "v1.2.3-rc1") == []
    # No anchors: still a full match.
    unanchored = Rule("tag", r"/v([0-9]+)/", r"{\1}")
    assert tags_for(unanchored, "tag", "v12") == [["12"]]
    assert tags_for(unanchored, "tag", "xv12") == []


def test_several_captures_and_literal_text():
    rule = Rule("branch", r"/release-(\d+)\.(\d+)/", r"{\1}.{\2}-stable,{\1}")
    assert tags_for(rule, "branch", "release-4.2") == [["4.2-stable", "4"]]


def test_comma_separated_templates_make_a_tag_set_without_repeats():
    rule = Rule("branch", "main", "latest, edge ,latest,{sourceref}")
    assert render_tags(rule, "main", True) == ["latest", "edge", "main"]


def test_a_produced_tag_the_registry_refuses_is_reported_not_built():
    rule = Rule("branch", "/.*/", "{sourceref}")
    matches, problems = match_push([rule], "branch", "feature/login")
    assert matches == []
    assert "'feature/login'" in problems[0] and "not a valid Docker tag" in problems[0]


def test_rules_of_the_other_source_type_do_not_match():
    assert tags_for(Rule("branch", "/.*/", "x"), "tag", "v1") == []


@pytest.mark.parametrize(
    ("source_type", "source", "docker_tag"),
    [
        ("branch", "main", "latest"),
        ("branch", "main", "{sourceref}"),
        ("branch", "main", "latest,{sourceref},stable"),
        ("tag", r"/^v([0-9.]+)$/", r"{\1}"),
        ("tag", r"/^v(\d+)\.(\d+)/", r"v{\1}.{\2}-{sourceref}"),
        ("branch", "/.*/", "{sourceref}"),
        ("branch", "/(?P<name>.*)/", r"{\1}"),
    ],
)
def test_valid_rules(source_type, source, docker_tag):
    validate_rule(source_type, source, docker_tag)


@pytest.mark.parametrize(
    ("source_type", "source", "docker_tag", "message"),
    [
        ("commit", "main", "latest", "source type"),
        ("branch", "", "latest", "needs a branch or tag"),
        ("branch", "main", " , ", "needs a name"),
        ("branch", "main", "-latest", "'-latest' is not a valid Docker tag"),
        ("branch", "main", "lat:est", "not a valid Docker tag"),
        ("branch", "main", "x" * 129, "not a valid Docker tag"),
        ("branch", "feature/x", "{sourceref}", "produces 'feature/x'"),
        ("branch", ".hidden", "{sourceref}", "produces '.hidden'"),
        ("branch", "main", r"{\1}", "is a name, not a /regex/"),
        ("branch", "main", "{branch}", "unknown placeholder"),
        ("tag", "/v(/", "x", "not a valid regular expression"),
        ("tag", r"/^v([0-9.]+)$/", r"{\2}", "has 1 capture group."),
        ("tag", r"/^v[0-9.]+$/", r"{\1}", "has 0 capture groups"),
        ("tag", r"/^v([0-9.]+)$/", r"release/{\1}", "contains '/'"),
        ("tag", r"/^v([0-9.]+)$/", r".{\1}", "starts with '.'"),
        ("tag", r"/^v([0-9.]+)$/", r"-{\1}", "starts with '-'"),
        ("tag", r"/^v([0-9.]+)$/", r"{\1}:x", "contains ':'"),
        ("tag", r"/^v([0-9.]+)$/", r"{\1}{other}", "unknown placeholder"),
        ("tag", r"/^v([0-9.]+)$/", "x" * 129 + r"{\1}", "longer than 128"),
    ],
)
def test_invalid_rules_are_reported_with_a_clear_message(source_type, source, docker_tag, message):
    with pytest.raises(RuleInvalid, match=None) as raised:
        validate_rule(source_type, source, docker_tag)
    assert message in str(raised.value)
