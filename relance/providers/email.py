"""E-mail through Django's e-mail backends (SMTP in production, configured by EMAIL_* settings).

One connection per batch; a refused recipient fails that message permanently, a connection or
temporary (4xx) problem makes the whole batch retry.
"""

from __future__ import annotations

import smtplib
import uuid

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from .base import Outgoing, Provider, ProviderError, Result


class DjangoEmailProvider(Provider):
    name = "django"
    channel = "email"

    def __init__(self, backend: str | None = None):
        self.backend = backend
        self.connection = None

    def open(self) -> None:
        self.connection = get_connection(self.backend, fail_silently=False)
        try:
            self.connection.open()
        except (OSError, smtplib.SMTPException) as exc:
            self.connection = None
            raise ProviderError(f"e-mail server unreachable: {type(exc).__name__}") from exc

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None

    def send(self, batch: list[Outgoing]) -> list[Result]:
        opened_here = self.connection is None
        if opened_here:
            self.open()
        try:
            return [self._one(item) for item in batch]
        finally:
            if opened_here:
                self.close()

    def _one(self, item: Outgoing) -> Result:
        message_id = f"<{uuid.uuid4()}@relance>"
        mail = EmailMessage(subject=item.subject, body=item.body, to=[item.to],
                            from_email=item.sender or settings.DEFAULT_FROM_EMAIL,
                            headers={"Message-ID": message_id, "X-Relance-Ref": item.ref},
                            connection=self.connection)
        try:
            mail.send()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(400 <= code < 500 for code in codes):
                return Result.retry(item.ref, f"smtp_{codes[0]}")
            return Result.failed(item.ref, f"smtp_{codes[0] if codes else 'refused'}")
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
            raise ProviderError(f"e-mail server connection lost: {type(exc).__name__}") from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                return Result.retry(item.ref, f"smtp_{exc.smtp_code}")
            return Result.failed(item.ref, f"smtp_{exc.smtp_code}")
        return Result.sent(item.ref, message_id.strip("<>"))
