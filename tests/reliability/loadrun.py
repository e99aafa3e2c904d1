"""Run wrk with tests/reliability/load.lua and read what it printed; find tracebacks in a log.

`run_wrk` starts wrk (a second process, its own event loop) against a URL for a duration and returns
`parse(stdout)`: wrk's own summary (requests, requests/s, the latency distribution of --latency, the
socket errors, the "Non-2xx or 3xx responses" count) merged with the "relance-load ..." lines the
script's `done` prints (statuses counted one by one in `response`, calls sent and recognised,
idempotent replays, percentiles in microseconds). `problems(result)` lists everything that breaks the
load test's promise: socket errors, a status outside 2xx, a 5xx, no request at all.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).with_name("load.lua")
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
# A traceback, plain or inside a JSON log line (relance.lib.logs), or a record logged at error level or above.
TRACEBACK = re.compile(r'Traceback \(most recent call last\)|"level": "(error|critical)"|^(\w+\.)*\w*(Error|Exception): '
                       r'|^(ERROR|CRITICAL)[: ]', re.M)


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(url: str, data_file: Path, *, seconds: int, threads: int = 2, connections: int = 8,
            timeout_seconds: int = 10, script: Path = SCRIPT) -> dict:
    """wrk -t -c -d --latency --timeout -s load.lua URL -- DATAFILE; its parsed output."""
    command = [wrk_path() or "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
               f"--timeout={timeout_seconds}s", "-s", str(script), url, "--", str(data_file)]
    # wrk from PATH, arguments built here.
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed (exit {done.returncode}): {done.stderr[-2000:]} {done.stdout[-2000:]}")
    result = parse(done.stdout)
    result["command"] = " ".join(command[:-1] + ["DATAFILE"])
    result["stderr"] = done.stderr.strip()[-2000:]
    return result


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {value!r}")
    return round(float(match.group(1)) * UNITS[match.group(2)], 3)


def parse(stdout: str) -> dict:
    """wrk's summary and the script's "relance-load" lines, as one dict."""
    result: dict = {"statuses": {}, "sent": {}, "answered": {}, "distribution_ms": {}, "latency_ms": {},
                    "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}, "non_2xx_3xx": 0}
    for line in stdout.splitlines():
        text = line.strip()
        if match := re.match(r"(\d+) requests in ([\d.]+\w+), ", text):
            result["wrk_requests"], result["wrk_seconds"] = int(match.group(1)), _ms(match.group(2)) / 1000
        elif match := re.match(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
            result["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups()),
                                               strict=True))
        elif match := re.match(r"Non-2xx or 3xx responses: (\d+)", text):
            result["non_2xx_3xx"] = int(match.group(1))
        elif match := re.match(r"Requests/sec:\s+([\d.]+)", text):
            result["requests_per_second"] = float(match.group(1))
        elif match := re.fullmatch(r"(\d+(?:\.\d+)?)%\s+([\d.]+(?:us|ms|s|m))", text):
            result["distribution_ms"][f"p{match.group(1)}"] = _ms(match.group(2))
        elif text.startswith("relance-load "):
            _script_line(result, text.split()[1:])
    return result


def _script_line(result: dict, words: list[str]) -> None:
    name = words[0]
    if name == "status":
        result["statuses"][words[1]] = int(words[2])
    elif name in ("sent", "answered"):
        result[name][words[1]] = int(words[2])
    elif name in ("replayed", "event_posts"):
        result[name] = int(words[1])
    elif name == "errors":
        result["script_errors"] = {k: int(v) for k, v in (word.split("=") for word in words[1:])}
    elif name == "requests":
        result["requests"], result["duration_s"] = int(words[1]), int(words[3]) / 1e6
        result["bytes"] = int(words[5])
    elif name == "latency_us":
        result["latency_ms"][words[1]] = round(int(words[2]) / 1000, 2)


def problems(result: dict) -> list[str]:
    """What breaks the promise "no errors under load"; empty when every answer was a 2xx."""
    found = []
    errors = {k: v for k, v in result.get("socket_errors", {}).items() if v}
    if errors:
        found.append(f"socket errors {errors}")
    if result.get("non_2xx_3xx"):
        found.append(f"{result['non_2xx_3xx']} non-2xx/3xx responses (wrk)")
    bad = {status: n for status, n in result.get("statuses", {}).items() if not status.startswith("2")}
    if bad:
        found.append(f"statuses outside 2xx {bad}")
    fives = sum(n for status, n in bad.items() if status.startswith("5"))
    if fives:
        found.append(f"{fives} server errors (5xx)")
    counted = sum(result.get("statuses", {}).values())
    if not result.get("requests") or not counted:
        found.append("no request answered")
    elif counted != result["requests"]:
        found.append(f"wrk counted {result['requests']} answers, the script {counted}")
    return found


def tracebacks(text: str) -> list[str]:
    """The lines of a process's output that show a traceback or a logged error."""
    return [line for line in text.splitlines() if TRACEBACK.search(line)]
