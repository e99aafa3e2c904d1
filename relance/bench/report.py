"""`relance bench report`: the table of figures against SPEC §7 and the plots, from bench/results/.

Reads the JSON the scenarios wrote (`<name>-postgresql.json`), writes docs/benchmarks/figures.md
(the table, regenerated; docs/benchmarks.md explains it) and the plots as PNG in docs/benchmarks/:
throughput against batch size and workers (dispatch) and latency distributions (STOP, API read,
access export) where the scenario kept its samples (`samples_ms`). A missing result is shown as
"not run", never invented.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import scenario

DOCS = Path("docs/benchmarks")
ARGUMENTS = [("--out", {"default": str(DOCS), "help": "report: where the plots and figures.md go"})]


def load(name: str, results: Path = scenario.RESULTS) -> dict | None:
    path = results / f"{name}-postgresql.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _get(data, *path, default=None):
    for key in path:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return default
    return data


def _n(value, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "not run"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        text = f"{value:,.{digits}f}" if digits or isinstance(value, float) else f"{value:,}"
        return f"{text}{unit}"
    return str(value)


def rows(results: Path = scenario.RESULTS) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, met) for every SPEC §7 number."""
    out = []

    def add(figure, value, target, met, unit="", digits=0):
        out.append((figure, _n(value, unit, digits), target, "not run" if value is None else ("met" if met else
                                                                                                "**missed**")))

    dispatch = load("dispatch", results)
    runs = _get(dispatch, "runs", default=[]) or []
    best = max(runs, key=lambda r: _get(r, "workers_1", "per_second", default=0), default=None)
    one = _get(best, "workers_1", "per_second")
    add(f"dispatch, 1 worker (best batch: {_get(best, 'batch')})", one, "≥ 5,000 msg/s", (one or 0) >= 5000,
        " msg/s")
    ratio = _get(best, "ratio_to_bare_loop")
    add("dispatch, ratio to the bare claim-and-mark loop", None if ratio is None else ratio * 100, "≥ 15 %",
        (ratio or 0) >= 0.15, " %", 1)
    two = max((_get(r, "workers_2", "per_second", default=0) or 0 for r in runs), default=0)
    scaling = two / one if one and two else None
    add("dispatch, 2 workers against 1 (each at its best batch)", scaling, "≥ 1.6×", (scaling or 0) >= 1.6, "×", 2)
    smpp = load("smpp", results)
    rate = _get(smpp, "simulator", "submit_sm_per_second")
    add("SMPP, submit_sm/s through one bind (simulator, receipts included)", rate, "≥ 5,000/s",
        (rate or 0) >= 5000 and _get(smpp, "simulator", "all_receipts_arrived", default=False), "/s")
    jasmin = _get(smpp, "jasmin")
    if isinstance(jasmin, dict):
        add("SMPP through Jasmin: Relance's submit_sm/s (Jasmin relays at its own pace)",
            _get(jasmin, "submit_sm_per_second"), "Relance never the slower side",
            (_get(jasmin, "submit_sm_per_second", default=0) or 0) >= (_get(jasmin, "relay_per_second", default=0)
                                                                      or 0), "/s")
    stop = load("stop", results)
    p99 = _get(stop, "latency_ms", "p99")
    add("STOP, p99 from webhook to suppression in effect", p99, "≤ 100 ms", p99 is not None and p99 <= 100, " ms", 1)
    after = _get(stop, "sends_after_stop")
    add("STOP, sends after the STOP (R-33)", after, "0", after == 0)
    audience = load("audience", results)
    seconds = _get(audience, "enqueue", "seconds")
    add(f"audience of {_n(_get(audience, 'contacts'))} contacts filtered by consent and enqueued", seconds, "≤ 60 s",
        seconds is not None and seconds <= 60, " s", 1)
    purge = load("purge", results)
    per_second = _get(purge, "rows_per_second")
    add("purge, rows deleted per second (messages and their timeline)", per_second, "≥ 100,000 rows/s",
        (per_second or 0) >= 100_000, " rows/s")
    export = load("export", results)
    p50 = _get(export, "create_export_ms", "p50")
    add(f"access export of one contact among {_n(_get(export, 'database_rows', 'contacts_contact'))} contacts and "
        f"{_n(_get(export, 'database_rows', 'messaging_message'))} messages (p50; p95 "
        f"{_n(_get(export, 'create_export_ms', 'p95'), ' ms', 0)})", p50, "≤ 500 ms", p50 is not None and p50 <= 500,
        " ms", 0)
    upsert = load("upsert", results)
    first = _get(upsert, "runs", "first", "seconds", default=_get(upsert, "seconds"))
    add(f"API bulk upsert of {_n(_get(upsert, 'events'))} events in one request", first, "≤ 5 s",
        first is not None and first <= 5, " s", 1)
    api = load("api", results)
    api_p99 = _get(api, "latency_ms", "p99")
    add(f"API single read, p99 under {_n(_get(api, 'rate'))} requests/s from a second process", api_p99, "≤ 50 ms",
        api_p99 is not None and api_p99 <= 50, " ms", 1)
    return out


def table(results: Path = scenario.RESULTS) -> str:
    lines = ["| figure (SPEC §7) | measured | target | |", "|---|---:|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(results)]
    return "\n".join(lines)


def run(command, options) -> dict:
    out = Path(options.get("out") or DOCS)
    out.mkdir(parents=True, exist_ok=True)
    progress = scenario.progress_for(command, "report")
    written = []
    text = table()
    generated = load("generate")
    header = ["# Benchmark figures (generated by `relance bench report`)", ""]
    if generated:
        header += [f"Data: {_n(generated.get('contacts'))} contacts, {_n(generated.get('messages'))} messages, "
                   f"{_n(generated.get('timeline_rows'))} timeline rows, {_n(generated.get('consent_events'))} "
                   f"consent events, generated by COPY in {_n(generated.get('total_seconds'), ' s')}.", ""]
    machine = _get(generated or load("dispatch") or {}, "machine", default={})
    database = _get(generated or load("dispatch") or {}, "database", "version", default="")
    if machine:
        header += [f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('memory_gib')} GiB; "
                   f"Python {machine.get('python')}; {database.split(' on ')[0]}.", ""]
    (out / "figures.md").write_text("\n".join(header) + "\n" + text + "\n")
    written.append(str(out / "figures.md"))
    written += plots(out)
    for path in written:
        progress(f"written {path}")
    command.stdout.write(text + "\n")
    return None


def plots(out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    written = []
    dispatch = load("dispatch")
    runs = _get(dispatch, "runs", default=[]) or []
    if runs:
        figure, axis = pyplot.subplots(figsize=(7, 4.2))
        batches = [r["batch"] for r in runs]
        for key, label in (("workers_1", "1 worker"), ("workers_2", "2 workers")):
            values = [_get(r, key, "per_second") for r in runs]
            if any(v is not None for v in values):
                axis.plot(batches, values, marker="o", label=label)
        bare = _get(dispatch, "bare_loop", "per_second")
        if bare:
            axis.axhline(bare, linestyle=":", color="grey", label=f"bare claim-and-mark loop ({bare:,.0f}/s)")
        axis.axhline(5000, linestyle="--", color="red", label="SPEC §7: 5,000 msg/s, 1 worker")
        axis.set_xscale("log")
        axis.set_xticks(batches, [str(b) for b in batches])
        axis.minorticks_off()
        axis.set_ylim(bottom=0)
        axis.set_xlabel("worker batch size (messages claimed per round)")
        axis.set_ylabel("messages per second")
        axis.set_title("Dispatch throughput against batch size and workers (PostgreSQL)")
        axis.legend(fontsize=8, loc="center right")
        axis.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(out / "dispatch-throughput.png", dpi=110)
        pyplot.close(figure)
        written.append(str(out / "dispatch-throughput.png"))
    samples = {}
    for name, label, target in (("stop", "STOP to suppression", 100), ("api", "API single read", 50),
                                ("export", "access export", 500)):
        for series, values in (_get(load(name), "samples_ms", default={}) or {}).items():
            if values:
                samples[f"{label} ({series})" if series not in (name, "all") else label] = (sorted(values), target)
    if samples:
        figure, axes = pyplot.subplots(1, len(samples), figsize=(4.2 * len(samples), 3.8), squeeze=False)
        for axis, (label, (values, target)) in zip(axes[0], samples.items(), strict=True):
            count = len(values)
            axis.plot(values, [(i + 1) / count for i in range(count)], drawstyle="steps-post")
            axis.axvline(target, linestyle="--", color="red", label=f"target {target} ms")
            for q in (0.5, 0.95, 0.99):
                axis.axhline(q, linestyle=":", color="grey", linewidth=0.8)
            axis.set_title(f"{label}, n={count}", fontsize=10)
            axis.set_xlabel("latency (ms)")
            axis.set_ylabel("share of requests at or below")
            axis.legend(fontsize=8, loc="lower right")
            axis.grid(alpha=0.3)
        figure.suptitle("Latency distributions (cumulative)")
        figure.tight_layout()
        figure.savefig(out / "latency.png", dpi=110)
        pyplot.close(figure)
        written.append(str(out / "latency.png"))
    return written
