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
    """The peer address as the web server saw it; behind a reverse proxy listed in
    RELANCE_TRUSTED_PROXIES (nginx on this machine), the address that proxy saw: the last address of
    X-Forwarded-For that is not itself a trusted proxy. A forged header from anyone else is ignored."""
    from django.conf import settings

    remote = request.META.get("REMOTE_ADDR", "")
    trusted = set(getattr(settings, "RELANCE_TRUSTED_PROXIES", ()) or ())
    if not remote or remote not in trusted:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for address in reversed([part for part in forwarded if part]):
        if address in trusted:
            continue
        try:
            return str(ipaddress.ip_address(address))
        except ValueError:
            return remote
    return remote
