"""Tag patterns of immutability rules: globs over the whole tag, regular
expressions between slashes, run by RE2."""

import pytest

from repositories.oci import tag_patterns


@pytest.mark.parametrize(
    ("pattern", "tag", "expected"),
    [
        ("v*", "v1.2.3", True),
        ("v*", "latest", False),
        ("release-?", "release-1", True),
        ("release-?", "release-10", False),
        ("V*", "v1", False),  # case-sensitive
        (r"/^\d+\.\d+\.\d+$/", "1.2.3", True),
        (r"/^\d+\.\d+\.\d+$/", "1.2.3-rc1", False),
        (r"/-rc\d+$/", "1.2.3-rc1", True),  # searched, not anchored
    ],
)
def test_patterns_match_as_documented(pattern, tag, expected):
    assert tag_patterns.matches(pattern, tag) is expected


def test_a_backtracking_pattern_answers_on_the_longest_tag():
    # With a backtracking engine this search takes longer than the universe's age.
    assert tag_patterns.matches("/(a+)+$/", "a" * 127 + "!") is False
    assert tag_patterns.matches("/(a+)+$/", "a" * 128) is True


@pytest.mark.parametrize("pattern", [r"/(a)\1/", "/(?=v)v/", "/v(1/"])
def test_what_re2_cannot_run_is_refused_with_its_reason(pattern):
    with pytest.raises(tag_patterns.InvalidPattern, match="is not a valid regular expression: ."):
        tag_patterns.compile_pattern(pattern)
