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


class RedactPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
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
