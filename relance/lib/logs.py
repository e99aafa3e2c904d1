"""Structured logs without personal data (R-61).

The formatter writes one JSON object per line. The filter is a safety net: code must not log
personal data in the first place, but anything that looks like an e-mail address or a phone
number is masked before it leaves the process.
"""

from __future__ import annotations

import json
import logging
import re

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# International or French-style numbers of 9+ digits, with optional separators; not parts of
# UUIDs, hashes, dates or dotted versions.
PHONE_RE = re.compile(r"(?<![\w\-])(?<!\d\.)(\+|00)?\d(?:[ .\-]?\d){8,14}(?![\w\-])(?!\.\d)")


def looks_personal(text: str) -> bool:
    return bool(EMAIL_RE.search(text) or PHONE_RE.search(text))


def redact(text: str) -> str:
    return PHONE_RE.sub("[phone]", EMAIL_RE.sub("[email]", text))


def safe_path(path: str) -> str:
    """A request path fit for a log: never its query string (a search, a number, an address...);
    and a path the application does not serve (a 404: anything typed, such as a name) cut after its
    longest prefix that it does serve, e.g. `/app/contacts/…`."""
    from django.urls import Resolver404, resolve

    def resolved(candidate: str):
        try:
            match = resolve(candidate)
        except Resolver404:
            return None
        except Exception:  # a logging filter must not fail (the URLconf may not load yet)
            return None
        route = match.route or ""
        catch_all = ".*" in route or "[\\s\\S]*" in route  # the API's JSON 404 serves nothing
        return None if catch_all else match

    def served(candidate: str) -> bool:
        return resolved(candidate) is not None

    path = (path or "/").split("?", 1)[0]
    match = resolved(path)
    if match is not None:
        # A credential in the path (a webhook's secret token, a signed preference link) stays out too.
        token = match.kwargs.get("token")
        return path.replace(token, "…") if isinstance(token, str) and token else path
    segments = [part for part in path.split("/") if part]
    for end in range(len(segments) - 1, 0, -1):
        prefix = "/" + "/".join(segments[:end]) + "/"
        if served(prefix):
            return prefix + "…"
    return "/…"


class RedactPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        request = getattr(record, "request", None)
        path = getattr(request, "path", None)
        if isinstance(path, str):
            # Django's request loggers ("Not Found: /path", "Internal Server Error: /path") and the
            # request they carry: the path of an unknown address and every query string stay out.
            shown = safe_path(path)
            full_path = request.get_full_path() if hasattr(request, "get_full_path") else path
            message = message.replace(full_path, shown).replace(path, shown)
            record.msg, record.args = message, None
            record.request = f"{getattr(request, 'method', '')} {shown}"
        if looks_personal(message):
            record.msg, record.args = redact(message), None
        return True


class JsonFormatter(logging.Formatter):
    RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self.RESERVED and not key.startswith("_"):
                payload[key] = value if isinstance(value, int | float | bool | type(None)) else redact(str(value))
        if record.exc_info:
            payload["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)
