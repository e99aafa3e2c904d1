"""The permission matrix is one table, documented in docs/permissions.md."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied

from relance.accounts import permissions
from relance.ops.management.commands.permissions import document


def test_it_keeps_the_documented_matrix_equal_to_the_code():
    """docs/permissions.md is generated from the code (`relance permissions --write`)."""
    path = Path(settings.BASE_DIR) / "docs" / "permissions.md"
    assert path.read_text() == document(), "run `relance permissions --write`"


@pytest.mark.parametrize("action", sorted(permissions.MATRIX))
@pytest.mark.parametrize("role", permissions.ROLES + (None,))
def test_it_allows_exactly_the_roles_of_the_matrix(role, action):
    roles, _ = permissions.MATRIX[action]
    if role in roles:
        permissions.require(role, action)
    else:
        with pytest.raises(PermissionDenied):
            permissions.require(role, action)


def test_it_refuses_unknown_actions():
    with pytest.raises(KeyError, match="unknown action"):
        permissions.allowed("admin", "launch.rockets")


def test_it_keeps_sensitive_actions_away_from_auditors_and_operators():
    """Auditors read; only admins manage keys and members; only the DPO downloads exports."""
    assert not permissions.allowed("auditor", "contact.view_personal")
    assert not permissions.allowed("operator", "apikey.manage")
    assert permissions.allowed("dpo", "export.download") and not permissions.allowed("admin", "export.download")
