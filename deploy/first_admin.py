"""Create the first organisation and its administrator on a fresh production installation.

There is no sign-up page: the first administrator comes from this script, run through `relance shell`
(docs/operations.md, "The first organisation and its administrator"):

    sudo -u relance env ORG_SLUG=mediatheques-valmont ORG_NAME="Médiathèques de Valmont" ORG_KIND=library \
        ADMIN_EMAIL=admin@valmont.example.org relance-admin shell -c "$(cat /srv/relance/deploy/first_admin.py)"

It asks for the password (at least 12 characters) unless ADMIN_PASSWORD_FILE names a file holding it.
ORG_KIND: library, health, occupational_health, answering_service, public_authority or company; ORG_COUNTRY
(FR) and ORG_TIME_ZONE (Europe/Paris) are optional. Run it again for another organisation: an existing
user (same e-mail) becomes its administrator too. The administrator enrols a second factor at the first
sign-in (R-64). With API_KEY_NAME (and API_KEY_SCOPES, comma-separated), it also creates an API key and
prints it once; otherwise create keys in the back office.
"""

import getpass
import os
import sys
from pathlib import Path

from django.core.exceptions import ValidationError

from relance.accounts import services as accounts
from relance.accounts.models import Membership, Organisation, Role
from relance.audit.services import Actor


def first_admin() -> int:
    actor = Actor.system("first-admin")
    slug, email = os.environ["ORG_SLUG"], os.environ["ADMIN_EMAIL"]
    try:
        org = Organisation.objects.filter(slug=slug).first() or accounts.create_organisation(
            actor=actor, slug=slug, name=os.environ["ORG_NAME"], kind=os.environ["ORG_KIND"],
            country=os.environ.get("ORG_COUNTRY", "FR"), time_zone=os.environ.get("ORG_TIME_ZONE", "Europe/Paris"))
        user = accounts.find_user_by_email(email)
        if user is None:
            secret_file = os.environ.get("ADMIN_PASSWORD_FILE")
            password = Path(secret_file).read_text().strip() if secret_file else getpass.getpass("Password: ")
            user = accounts.create_user(actor=actor, email=email, password=password)
        if not Membership.objects.for_org(org).filter(user=user).exists():
            accounts.add_member(org, user, Role.ADMIN, actor=actor)
        if os.environ.get("API_KEY_NAME"):
            scopes = [scope.strip() for scope in os.environ.get("API_KEY_SCOPES", "").split(",") if scope.strip()]
            _, secret = accounts.create_api_key(org, actor=actor, name=os.environ["API_KEY_NAME"], scopes=scopes)
            sys.stdout.write(f"API key (shown once): {secret}\n")
    except ValidationError as exc:
        sys.stderr.write(f"Refused: {exc.messages}\n")
        return 1
    sys.stdout.write(f"Organisation {org.slug}: administrator ready; sign in at /app/.\n")
    return 0


code = first_admin()
if code:
    sys.exit(code)
