"""Network helpers that keep personal data out of storage."""

import ipaddress


def truncate_ip(value: str | None) -> str:
    """IPv4 to /24, IPv6 to /48: enough for security review, not enough to single out a person."""
    if not value:
        return ""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def client_ip(request) -> str:
    """The peer address as the web server saw it (a proxy in front must set REMOTE_ADDR)."""
    return request.META.get("REMOTE_ADDR", "")
