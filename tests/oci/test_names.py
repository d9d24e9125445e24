import pytest

from repositories.oci import names


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "0",
        "busybox",
        "library/busybox",
        "a/b/c/d",
        "a.b",
        "a_b",
        "a__b",
        "a-b",
        "a--b",
        "a---b",
        "a.b_c__d-e",
        "my-org/my.repo_1",
        "123/456",
    ],
)
def test_valid_names(name):
    assert names.NAME_RE.match(name)
    assert names.is_valid_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "A",
        "alice/App",
        "a//b",
        "/a",
        "a/",
        "a-",
        "-a",
        "a.",
        ".a",
        "_a",
        "a_",
        "a..b",
        "a___b",
        "a.-b",
        "a-.b",
        "a._b",
        "a b",
        "a:b",
        "a@b",
        pytest.param("a/b\n", id="trailing-newline"),
        "ä",
    ],
)
def test_invalid_names(name):
    assert not names.NAME_RE.match(name)
    assert not names.is_valid_name(name)


def test_name_length_limit():
    assert names.is_valid_name("a/" + "b" * 253)
    assert not names.is_valid_name("a/" + "b" * 254)


@pytest.mark.parametrize(
    "tag", ["latest", "LATEST", "_", "_x", "1", "1.0", "v1.2.3-rc.1_b", "a" * 128, "a..b", "a--"]
)
def test_valid_tags(tag):
    assert names.TAG_RE.match(tag)
    assert names.is_valid_tag(tag)


@pytest.mark.parametrize(
    "tag",
    [
        "",
        ".a",
        "-a",
        "a" * 129,
        "a:b",
        "a/b",
        "a+b",
        "a b",
        "a@b",
        "é",
        pytest.param("latest\n", id="trailing-newline"),
    ],
)
def test_invalid_tags(tag):
    assert not names.TAG_RE.match(tag)
    assert not names.is_valid_tag(tag)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("busybox", ("library", "busybox")),
        ("library/busybox", ("library", "busybox")),
        ("alice/app", ("alice", "app")),
        ("alice/team/app", ("alice", "team/app")),
    ],
)
def test_split_name(name, expected):
    assert names.split_name(name) == expected
