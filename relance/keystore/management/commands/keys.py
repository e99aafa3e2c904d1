"""`relance keys`: rotate and inspect the key store (R-60, R-62).

`rotate --master [--generate]` re-wraps scope keys under the primary master key; `rotate --org ORG`
gives an organisation (or the platform) a new wrap key and re-wraps its subject keys; `status`
counts keys. Rotation works in small transactions, so the application keeps serving meanwhile.
Output names key ids, scopes, slugs and counts only, never personal data.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from relance.keystore import services
from relance.keystore.models import ScopeKey, SubjectKey
from relance.lib.crypto import CryptoError, MasterKeyError

KEYRING_ERRORS = (CryptoError, MasterKeyError, OSError)


class Command(BaseCommand):
    help = "Key store tools: 'rotate --master [--generate]', 'rotate --org ORG' and 'status'."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        rotate = sub.add_parser("rotate", help="re-wrap keys under a new master key or a new organisation key")
        which = rotate.add_mutually_exclusive_group(required=True)
        which.add_argument("--master", action="store_true", help="re-wrap every scope key under the primary master key")
        which.add_argument("--org", metavar="ORG", help="organisation slug, or a scope such as org:3 or platform")
        rotate.add_argument(
            "--generate", action="store_true",
            help="with --master: first add a new primary key to the keyring file (embedded default only)",
        )
        sub.add_parser("status", help="count scope keys per master key and subject keys per organisation key")

    def handle(self, *args, action, **options):
        try:
            if action == "status":
                self.status()
            elif options["master"]:
                self.rotate_master(options["generate"])
            else:
                if options["generate"]:
                    raise CommandError("--generate goes with --master (it adds a new master key).")
                self.rotate_scope(options["org"])
        except KEYRING_ERRORS as exc:
            raise CommandError(f"Key store error: {exc}.")

    # --- rotate --master -------------------------------------------------------------------
    def rotate_master(self, generate: bool) -> None:
        if generate:
            if not services.keyring_from_file():
                raise CommandError(
                    "--generate only works when the keyring is the embedded default's file (var/master.key). "
                    "Here it is given by RELANCE_MASTER_KEY or RELANCE_MASTER_KEY_FILE: put a new 'id:base64' key "
                    "first in it, restart every process, then run `relance keys rotate --master` without --generate."
                )
            kid = services.add_master_key_to_file()
            self.stdout.write(f"Added master key {kid} as the primary key of {settings.RELANCE_MASTER_KEY_FILE}.")
        elif not services.keyring_from_file():
            self.stdout.write("The keyring comes from the environment: every running process must already have it.")
        ring = services.master_keyring()
        count = services.rotate_master(self._progress("scope keys"))
        self._end_progress(count)
        if count:
            self.stdout.write(self.style.SUCCESS(f"Re-wrapped {count} scope key(s) under master key {ring.primary_id}."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Every scope key is already under master key {ring.primary_id}."))
        self._retire_advice(ring)

    def _retire_advice(self, ring) -> None:
        in_use = self._scope_keys_per_master()
        where = settings.RELANCE_MASTER_KEY_FILE if services.keyring_from_file() else "RELANCE_MASTER_KEY"
        for kid in ring.keys:
            if kid == ring.primary_id:
                continue
            if in_use.get(kid):
                self.stdout.write(f"Master key {kid} still wraps {in_use[kid]} scope key(s): run this command again.")
                continue
            self.stdout.write(
                f"Master key {kid} wraps no scope key any more. To retire it, remove its line from {where} and "
                f"restart Relance. Keep a copy offline for {settings.RELANCE_KEY_BACKUP_DAYS} days: key store "
                "backups made before now still need it."
            )

    # --- rotate --org ----------------------------------------------------------------------
    def rotate_scope(self, value: str) -> None:
        scope, label = self._resolve_scope(value.strip())
        if not ScopeKey.objects.filter(scope=scope, purpose=ScopeKey.WRAP).exists():
            raise CommandError(f"{label} has no keys yet: there is nothing to rotate.")
        self.stdout.write(
            f"Rotating {label}. This takes at least {services.ROTATION_SETTLE:.0f} s: running processes switch "
            "to the new key version meanwhile, and keep serving."
        )
        count = services.rotate_scope(scope, self._progress("keys"))
        self._end_progress(count)
        version = ScopeKey.objects.filter(scope=scope, purpose=ScopeKey.WRAP).order_by("-version").first().version
        self.stdout.write(self.style.SUCCESS(
            f"{label}: new wrap key version {version}; re-wrapped {count} subject key(s); older versions retired."
        ))

    def _resolve_scope(self, value: str) -> tuple[str, str]:
        # accounts sits above keystore in the layers: look the model up by name, not by import.
        organisation = apps.get_model("accounts", "Organisation")
        if value == services.PLATFORM_SCOPE:
            return value, "Platform users"
        if value.startswith("org:"):
            ident = value.removeprefix("org:")
            org = organisation.objects.filter(pk=int(ident)).first() if ident.isdigit() else None
        else:
            org = organisation.objects.filter(slug=value).first()
        if org is None:
            raise CommandError(
                f"No organisation {value!r}. Give its short name (slug) or its scope (org:ID); "
                "`relance keys status` lists the scopes."
            )
        return services.org_scope(org.pk), f"Organisation {org.slug} ({services.org_scope(org.pk)})"

    # --- status ----------------------------------------------------------------------------
    def status(self) -> None:
        ring = services.master_keyring()
        in_use = self._scope_keys_per_master()
        self.stdout.write("Master keys (the first wraps new keys; the others only unwrap):")
        for kid in ring.keys:
            if kid == ring.primary_id:
                note = "primary"
            else:
                note = "can be removed" if not in_use.get(kid) else "still in use: run `relance keys rotate --master`"
            self.stdout.write(f"  {kid:<32} {in_use.get(kid, 0):>7} scope key(s)  {note}")
        missing = {kid: n for kid, n in in_use.items() if kid not in ring.keys}
        for kid, n in missing.items():
            self.stderr.write(f"  {kid:<32} {n:>7} scope key(s)  NOT IN THE KEYRING: their data cannot be read")
        self._scope_table()
        if missing:
            raise CommandError(f"{len(missing)} master key(s) in use are missing from the keyring.")

    def _scope_table(self) -> None:
        subjects = {
            (row["scope"], row["wrap_version"]): row["n"]
            for row in SubjectKey.objects.values("scope", "wrap_version").annotate(n=Count("id")).order_by()
        }
        rows = list(ScopeKey.objects.order_by("scope", "purpose", "version"))
        slugs = self._slugs()
        self.stdout.write("Scopes (wrap key versions with their subject keys; index key):")
        current = None
        for row in rows:
            if row.scope != current:
                current = row.scope
                self.stdout.write(f"  {row.scope}  {slugs.get(row.scope, '')}".rstrip())
            state = "retired" if row.retired_at else "active"
            line = f"    {row.purpose:<5} v{row.version:<4} {state:<8} master {row.master_key_id}"
            if row.purpose == ScopeKey.WRAP:
                line += f"  {subjects.pop((row.scope, row.version), 0)} subject key(s)"
            self.stdout.write(line)
        for (scope, version), n in sorted(subjects.items()):
            self.stderr.write(f"  {scope}: {n} subject key(s) under wrap version {version}, which does not exist")

    def _slugs(self) -> dict[str, str]:
        organisation = apps.get_model("accounts", "Organisation")
        names = {services.org_scope(pk): f"({slug})" for pk, slug in organisation.objects.values_list("pk", "slug")}
        names[services.PLATFORM_SCOPE] = "(platform users)"
        return names

    # --- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _scope_keys_per_master() -> dict[str, int]:
        rows = ScopeKey.objects.values("master_key_id").annotate(n=Count("id")).order_by()
        return {row["master_key_id"]: row["n"] for row in rows}

    def _progress(self, noun: str):
        def show(done: int, total: int) -> None:
            self.stdout.write(f"\rre-wrapped {done}/{total} {noun}", ending="")
            self.stdout.flush()

        return show

    def _end_progress(self, count: int) -> None:
        if count:
            self.stdout.write("")
