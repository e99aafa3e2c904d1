"""The `relance` command: Django management commands behind one entry point (SPEC §4)."""

from __future__ import annotations

import os
import sys

COMMANDS = [
    ("run", "prepare the embedded default (migrate, demo data) and serve it on http://127.0.0.1:8000"),
    ("serve", "serve the web application (waitress) without preparing anything"),
    ("worker", "send due messages until SIGTERM (run several against PostgreSQL)"),
    ("demo", "load the demo organisations and users (idempotent) and print the logins"),
    ("setup", "apply migrations to both databases (main and key store)"),
    ("audit verify", "check every audit hash chain; exit 1 naming the first broken row"),
    ("keys rotate", "--master: re-wrap organisation keys under the primary master key; --org ORG: new org key"),
    ("import contacts", "FILE --org SLUG [--purpose CODE] [--mode all|good] [--dry-run]: CSV import with a report"),
    ("keys status", "which master key wraps what; key versions and data-key counts per organisation"),
    ("consent expire", "record `expired` ledger events for consents past their validity (R-13)"),
    ("consent preset", "--org SLUG: create the purposes and notices suited to the organisation's kind"),
    ("bench all", "every SPEC §7 figure on a database of its own (--fresh, --quick, --only/--skip); `make bench`"),
    ("bench generate", "fill PostgreSQL by COPY: --contacts 1000000 --rows 10000000 (four organisations)"),
    ("bench dispatch", "SPEC §7 dispatch benchmark (PostgreSQL): --messages N --batch 100,500 --workers 2 --json PATH"),
    ("bench stop", "SPEC §7 STOP benchmark: --stops N over HTTP to the inbound webhook, --json PATH"),
    ("bench smpp", "SPEC §7 SMPP benchmark: submit_sm/s through one bind, to the SMSC simulator and through Jasmin"),
    ("bench purge", "SPEC §7 purge benchmark (PostgreSQL): --rows N message rows purged, rows/s"),
    ("bench export", "SPEC §7 access-export benchmark (PostgreSQL): --contacts N --rows M or --org SLUG, one export"),
    ("bench audience", "SPEC §7 campaign audience: --contacts N filtered by consent and enqueued"),
    ("bench upsert", "SPEC §7 bulk upsert of --events N in one API request (server in a second process)"),
    ("bench api", "SPEC §7 API read latency under --rate R requests/s for --seconds S from a second process"),
    ("bench plans", "EXPLAIN ANALYZE of the hot paths' queries on the bench data (indexes used)"),
    ("bench report", "the table of figures against SPEC §7 and the plots (docs/benchmarks/)"),
    ("providers list", "SMS and e-mail provider accounts (add, set, rotate-webhook: see --help)"),
    ("requests overdue", "[--org SLUG]: rights requests past their deadline (exit 1 when any); `requests list`"),
    ("purge", "[--org SLUG] [--dry-run] [--category C]: apply the retention policies now (R-50)"),
    ("register", "--org SLUG | --platform [--format json|html|pdf] [--check]: the Art. 30 register (R-70)"),
    ("compliance", "--org SLUG --month YYYY-MM [--format json|html|pdf]: the monthly compliance report (R-73)"),
    ("breaches list", "[--org SLUG]: the breach register with each incident's clock (R-71); show, draft"),
    ("permissions", "print the role permission matrix (docs/permissions.md is generated from it)"),
    ("doctor", "[--json] [--no-network] [--strict]: check this configuration and say what to fix (exit 1 on errors)"),
    ("backup", "[--dir DIR] [--main-only|--keys-only] [--prune]: both databases, key backups kept 7 days (R-60)"),
    ("restore", "MAIN_BACKUP [--keys KEYS_BACKUP] [--yes]: restore the databases (docs/backup.md)"),
]


def usage() -> str:
    width = max(len(name) for name, _ in COMMANDS)
    lines = ["usage: relance COMMAND [options]", "", "Relance commands:"]
    lines += [f"  {name.ljust(width)}  {text}" for name, text in COMMANDS]
    lines += ["", "Every Django management command also works (relance help lists them all).",
              "relance COMMAND --help gives a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    if len(argv) < 2 or argv[1] in {"-h", "--help"}:
        print(usage())
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line(["relance", *argv[1:]])


if __name__ == "__main__":
    main()
