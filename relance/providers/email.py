"""E-mail through Django's e-mail backends (SMTP in production, configured by EMAIL_* settings).

One connection kept between batches; a refused recipient (5xx) fails that message permanently, a
temporary answer (4xx) retries it. A connection the server closed (a 421, an idle timeout, a restart)
is never reused: it is replaced before the next message. Losing the connection on the first message
of a batch fails the batch (ProviderError: every message retries); later in a batch, the messages
already accepted stay sent and the rest retry (never sent twice).
"""

from __future__ import annotations

import contextlib
import smtplib
import uuid

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from .base import Outgoing, Provider, ProviderError, Result, send_one_by_one


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
            raise ProviderError(f"e-mail server unreachable: {type(exc).__name__}", code="smtp_unreachable") from exc

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None

    def _drop(self) -> None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            self.close()
        self.connection = None

    def _alive(self) -> bool:
        smtp = getattr(self.connection, "connection", True)  # Django's SMTP backend holds an smtplib.SMTP
        if smtp is True:
            return True  # not an SMTP backend: no connection to lose
        try:
            return smtp is not None and smtp.noop()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False

    def send(self, batch: list[Outgoing]) -> list[Result]:
        if self.connection is not None and not self._alive():
            self._drop()  # closed by the server since the last batch
        opened_here = self.connection is None
        if opened_here:
            self.open()
        try:
            return send_one_by_one(batch, self._one, vendor="smtp")
        finally:
            if opened_here:
                self._drop()

    def _one(self, item: Outgoing) -> Result:
        if self.connection is None:  # the server closed it after a 421 earlier in this batch
            self.open()
        message_id = f"<{uuid.uuid4()}@relance>"
        mail = EmailMessage(subject=item.subject, body=item.body, to=[item.to],
                            from_email=item.sender or settings.DEFAULT_FROM_EMAIL,
                            headers={"Message-ID": message_id, "X-Relance-Ref": item.ref},
                            connection=self.connection)
        try:
            mail.send()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if 421 in codes:
                self._drop()  # smtplib closed the connection
            if codes and all(400 <= code < 500 for code in codes):
                return Result.retry(item.ref, f"smtp_{codes[0]}")
            return Result.failed(item.ref, f"smtp_{codes[0] if codes else 'refused'}")
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
            self._drop()
            raise ProviderError(f"e-mail server connection lost: {type(exc).__name__}",
                                code="smtp_connection_lost") from exc
        except smtplib.SMTPResponseException as exc:  # before OSError: every SMTPException is an OSError
            if exc.smtp_code == 421:
                self._drop()  # smtplib closed the connection
            if 400 <= exc.smtp_code < 500:
                return Result.retry(item.ref, f"smtp_{exc.smtp_code}")
            return Result.failed(item.ref, f"smtp_{exc.smtp_code}")
        except OSError as exc:
            self._drop()
            raise ProviderError(f"e-mail server connection lost: {type(exc).__name__}",
                                code="smtp_connection_lost") from exc
        return Result.sent(item.ref, message_id.strip("<>"))
