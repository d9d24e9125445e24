"""Every HUB_ variable that deploy/ names (compose, the env files, the
Kubernetes manifests, the nginx configuration) is one Hub reads: a misspelt
name in a file an operator copies would otherwise be ignored without a word.

What Hub reads is found in the code that reads the environment: the settings,
gunicorn's configuration and `serve` (HUB_ADMIN_PASSWORD)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
READERS = [
    ROOT / "hub" / "settings" / "base.py",
    ROOT / "hub" / "gunicorn.conf.py",
    ROOT / "hub" / "management" / "commands" / "serve.py",
]
NAME = re.compile(r"\bHUB_[A-Z0-9_]+\b")
# Variables compose itself substitutes (${HUB_IMAGE:-hub:latest}), which no
# container sees.
COMPOSE_VARIABLES = {"HUB_IMAGE"}


def _is_environment(node):
    """`env`, `os.environ`, or `environ` (django-environ's Env reads it)."""
    if isinstance(node, ast.Name):
        return node.id in ("env", "environ")
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _loop_values(tree):
    """For `for (a, b) in [("x", "y"), ...]`: {"a": {"x", ...}, "b": {"y", ...}}."""
    values = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.For) and isinstance(node.iter, (ast.List, ast.Tuple))):
            continue
        targets = node.target.elts if isinstance(node.target, ast.Tuple) else [node.target]
        for item in node.iter.elts:
            items = item.elts if isinstance(item, ast.Tuple) else [item]
            for target, value in zip(targets, items, strict=False):
                if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
                    values.setdefault(target.id, set()).add(value.value)
    return values


def _names(node, loop_values):
    """The variable names a name argument can be: a string, or an f-string
    over a loop variable (f"{_prefix}_CLIENT_ID")."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.JoinedStr):
        names = {""}
        for part in node.values:
            if isinstance(part, ast.Constant):
                names = {name + part.value for name in names}
            elif isinstance(part.value, ast.Name) and part.value.id in loop_values:
                names = {name + value for name in names for value in loop_values[part.value.id]}
            else:
                return set()
        return names
    return set()


def variables_read(source):
    """The HUB_ variables that `source` reads: the first argument of env.*(),
    env(), os.environ.get() and os.getenv(), and os.environ[...]."""
    tree = ast.parse(source)
    loop_values = _loop_values(tree)
    names = set()
    for node in ast.walk(tree):
        argument = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if _is_environment(func) or (
                isinstance(func, ast.Attribute)
                and (_is_environment(func.value) or func.attr == "getenv")
            ):
                argument = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_environment(node.value):
            argument = node.slice
        if argument is not None:
            names |= {name for name in _names(argument, loop_values) if NAME.fullmatch(name)}
    return names


def hub_reads():
    names = set()
    for path in READERS:
        names |= variables_read(path.read_text())
    return names


def unknown_names(text, known):
    return sorted(set(NAME.findall(text)) - known - COMPOSE_VARIABLES)


def deploy_files():
    return sorted(path for path in DEPLOY.rglob("*") if path.is_file())


def test_hub_reads_what_it_is_known_to_read():
    known = hub_reads()
    for name in (
        "HUB_DATABASE_URL",
        "HUB_S3_BUCKET",
        "HUB_TOKEN_KEY",
        "HUB_WEB_GRACEFUL_TIMEOUT",
        "HUB_ADMIN_PASSWORD",
        "HUB_GITHUB_CLIENT_ID",
        "HUB_BITBUCKET_CLIENT_SECRET",
    ):
        assert name in known, name
    assert "HUB_TOKEN_KEY_FILE" not in known  # a setting, not a variable


def test_every_hub_variable_named_in_deploy_is_one_hub_reads():
    known = hub_reads()
    files = deploy_files()
    names = {path.relative_to(ROOT).as_posix() for path in files}
    assert {
        "deploy/compose.yaml",
        "deploy/hub.env.example",
        "deploy/nginx/hub.conf",
        "deploy/kubernetes/hub.env",
        "deploy/kubernetes/secret.env.example",
    } <= names
    unknown = {
        path.relative_to(ROOT).as_posix(): unknown_names(path.read_text(), known) for path in files
    }
    assert {path: found for path, found in unknown.items() if found} == {}


def test_a_misspelt_variable_is_caught():
    known = hub_reads()
    assert unknown_names("HUB_DATABASE_URL=postgres://db/hub\nHUB_DATABSE_URL=x\n", known) == [
        "HUB_DATABSE_URL"
    ]


def test_compose_substitutes_no_other_hub_variable():
    text = (DEPLOY / "compose.yaml").read_text()
    substituted = set(re.findall(r"\$\{(HUB_[A-Z0-9_]+)", text))
    assert substituted <= COMPOSE_VARIABLES
