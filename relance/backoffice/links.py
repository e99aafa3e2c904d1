"""Links between the areas of the back-office: a page links to another only when that page exists and
the user's role may open it (a link that ends on "access denied" is a broken promise)."""

from __future__ import annotations

from django.urls import NoReverseMatch, resolve, reverse

from relance.accounts.permissions import allowed


def page_url(name: str, *, role: str | None = None, **kwargs) -> str:
    """The address of the back-office page `name` (with its ids), or "" when there is no such page or,
    `role` given, when the permission matrix keeps that role out of it."""
    try:
        url = reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return ""
    if role is not None:
        action = getattr(resolve(url).func, "relance_requires", (None, None))[0]
        if action and not allowed(role, action):
            return ""
    return url
