"""Where a storage may connect: host names as DNS and the SDK take them, and the hosts an operator allows.

A storage's host is typed by a project's administrator, and the Label Studio server connects to it from inside
its network. ``APERTUREDB_ALLOWED_HOSTS`` (comma- or space-separated; empty: no limit) limits where it may:

- a name or wildcard (``aperturedb.internal``, ``*.example.com``) allows a host of that name, whatever it
  resolves to (the operator trusts the name);
- an address or CIDR range (``10.2.0.0/16``, ``192.168.1.5``, ``fd00::/8``) allows a host every address of
  which, resolved at each connection, lies in one of them: a name that resolves to any other address is refused.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
import socket
from dataclasses import dataclass

ALLOWED_HOSTS_VARIABLE = "APERTUREDB_ALLOWED_HOSTS"
MAX_NAME_LENGTH = 253  # DNS's limit on a whole name
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")  # "_" as some internal DNS zones have it
_PATTERN = re.compile(r"[a-z0-9_*.-]+")


class HostError(ValueError):
    pass


def host_name_problem(name: str) -> str | None:
    """Why ``name`` is not a host name or IP address the SDK can connect to; None when it is one."""
    if len(name) > MAX_NAME_LENGTH:
        return f"a host name has at most {MAX_NAME_LENGTH} characters"
    try:
        ipaddress.ip_address(name)
        return None
    except ValueError:
        pass
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()  # an internationalised name as DNS has it
    except UnicodeError:
        ascii_name = ""
    labels = ascii_name.removesuffix(".").split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return ("give a host name such as aperturedb.example.com or an IP address, without a scheme "
                "(https://), user, port, path or spaces")
    return None


@dataclass(frozen=True)
class AllowedHosts:
    names: tuple[str, ...]  # lower-case names and fnmatch patterns
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    def refusal(self, hostname: str, port: int) -> str | None:
        """Why a connection to ``hostname:port`` is not allowed; None when it is. Resolves the name."""
        name = hostname.lower().removesuffix(".")
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.names):
            return None
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)}
        except (socket.gaierror, UnicodeError):
            return f"{hostname!r} does not resolve, and {ALLOWED_HOSTS_VARIABLE} does not name it"
        forbidden = sorted(a for a in addresses if not any(_in(a, network) for network in self.networks))
        if forbidden:
            return (f"{hostname} ({', '.join(forbidden)}) is not among the hosts this Label Studio may connect to "
                    f"({ALLOWED_HOSTS_VARIABLE})")
        return None


def _in(address: str, network) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])  # an IPv6 address may carry its zone
    return ip.version == network.version and ip in network


def allowed_hosts() -> AllowedHosts | None:
    """The operator's limit from the environment, read at each connection; None when there is none."""
    text = os.environ.get(ALLOWED_HOSTS_VARIABLE, "")
    names, networks = [], []
    for entry in re.split(r"[\s,]+", text.strip()):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        pattern = entry.lower().removesuffix(".")
        if not _PATTERN.fullmatch(pattern):
            raise HostError(f"{ALLOWED_HOSTS_VARIABLE}: {entry!r} is neither a host name, a wildcard such as "
                            "*.example.com, an IP address nor a CIDR range")
        names.append(pattern)
    if not names and not networks:
        return None
    return AllowedHosts(tuple(names), tuple(networks))
