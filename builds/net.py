"""The guard on URLs Hub reaches on a user's behalf (git URLs to clone,
webhook URLs to notify): no loopback, private, link-local or otherwise
non-public address, unless the operator allows it
(HUB_BUILDS_ALLOWED_HOSTS, HUB_ALLOW_PRIVATE_NETWORKS).

The host name is resolved and every address is checked, so a public name
that points inside the network is refused too. The caller should connect
to one of the checked addresses (or check again right before connecting):
a name can resolve differently a moment later."""

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from django.conf import settings

GIT_SCHEMES = ("https", "http", "ssh", "git")
WEBHOOK_SCHEMES = ("https", "http")
DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
# git's scp-like syntax: [user@]host:path, with no "//" after the colon.
SCP_LIKE_RE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]/]+\]|[^:/]+):(?!//)(?P<path>.+)$")
# git runs a remote helper for <transport>::<address> (ext:: runs a command).
REMOTE_HELPER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")


class UnsafeURL(ValueError):
    """A URL Hub refuses to reach."""


def resolve(host, port):
    """Every address ``host`` resolves to (a function of its own, so tests can replace it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeURL(f"The host {host!r} cannot be resolved.") from error
    return sorted({info[4][0] for info in infos})


def split_git_url(url):
    """``(scheme, host, port)`` of a git URL, with scp-like ``user@host:path`` as ssh."""
    if REMOTE_HELPER_RE.match(url):
        raise UnsafeURL("git remote helpers (<transport>::<address>) are not allowed.")
    if "://" not in url:
        scp = SCP_LIKE_RE.match(url)
        if scp is None:
            raise UnsafeURL("A git URL must be https://, ssh://, git:// or user@host:path.")
        host = scp.group("host").strip("[]")
        return "ssh", host, DEFAULT_PORTS["ssh"]
    return _split(url, GIT_SCHEMES)


def check_git_url(url):
    """Raise ``UnsafeURL`` unless ``url`` is a git URL Hub may clone from; returns the addresses."""
    scheme, host, port = split_git_url(url)
    return check_host(host, port)


def check_webhook_url(url):
    """Raise ``UnsafeURL`` unless Hub may POST to ``url``; returns the addresses."""
    _scheme, host, port = _split(url, WEBHOOK_SCHEMES)
    return check_host(host, port)


def is_ssh_url(url):
    try:
        return split_git_url(url)[0] == "ssh"
    except UnsafeURL:
        return False


def check_host(host, port):
    """Resolve ``host`` and refuse it unless every address is public or allowed."""
    if not host or host.startswith("-"):
        # "-oProxyCommand=…" would reach ssh as an option.
        raise UnsafeURL(f"{host!r} is not a host name.")
    addresses = resolve(host, port)
    if not addresses:
        raise UnsafeURL(f"The host {host!r} has no address.")
    if settings.HUB_ALLOW_PRIVATE_NETWORKS or _host_allowed(host):
        return addresses
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not _is_public(ip) and not _address_allowed(ip):
            raise UnsafeURL(
                f"{host} resolves to {ip}, which is not a public address. An operator can "
                "allow it with HUB_BUILDS_ALLOWED_HOSTS."
            )
    return addresses


def _split(url, schemes):
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeURL(f"Not a valid URL: {error}.") from error
    if parts.scheme not in schemes:
        raise UnsafeURL(f"The URL's scheme must be one of {', '.join(schemes)}.")
    if not parts.hostname:
        raise UnsafeURL("The URL has no host.")
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def _is_public(ip):
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _allowed_entries():
    return [entry.strip().lower() for entry in settings.HUB_BUILDS_ALLOWED_HOSTS if entry.strip()]


def _host_allowed(host):
    return host.lower().rstrip(".") in _allowed_entries()


def _address_allowed(ip):
    for entry in _allowed_entries():
        try:
            network = ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            continue  # a host name, matched by _host_allowed
        if ip.version == network.version and ip in network:
            return True
    return False
