"""Login by e-mail through the keyed-hash index; lockout keyed on that hash, never the clear e-mail."""

from __future__ import annotations

from django.contrib.auth.backends import BaseBackend

from relance.lib.net import client_ip, truncate_ip

from .models import User


class EmailBackend(BaseBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        from .services import find_user_by_email

        if not username or not password:
            return None
        user = find_user_by_email(username)
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle on e-mails
            return None
        if user.is_active and user.check_password(password):
            return user
        return None

    def get_user(self, user_id):
        user = User.objects.filter(pk=user_id).first()
        return user if user and user.is_active else None


def axes_username(request, credentials) -> str:
    from .services import email_index

    raw = (credentials or {}).get("username") or ""
    return email_index(raw) if raw else ""


def axes_client_ip(request) -> str:
    return truncate_ip(client_ip(request))
