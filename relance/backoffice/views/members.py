"""Members of the active organisation and their roles."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from relance.accounts import services as accounts
from relance.accounts.models import Membership, Role
from relance.accounts.permissions import MATRIX, ROLES, allowed

from ..access import requires
from ..forms import MemberAddForm, RoleForm, show_service_errors
from ..services import actor


def role_matrix() -> dict:
    """What each role may do, as the permission matrix decides it: shown where roles are chosen."""
    labels = dict(Role.choices)
    rows = [(description, [role in roles for role in ROLES]) for roles, description in MATRIX.values()]
    return {"roles": [labels.get(role, role) for role in ROLES], "rows": rows}


def _membership(request, membership_id: int) -> Membership:
    memberships = Membership.objects.for_org(request.organisation).select_related("user")
    return get_object_or_404(memberships, pk=membership_id)


@requires("member.view")
def member_list(request):
    memberships = Membership.objects.for_org(request.organisation).select_related("user")
    rows = sorted(memberships, key=lambda m: ((m.user.full_name or "").lower(), str(m.user_id)))
    can_manage = allowed(request.membership.role, "member.manage")
    return render(request, "backoffice/members.html", {"memberships": rows, "can_manage": can_manage,
                                                       "matrix": role_matrix()})


@requires("member.manage")
def member_add(request):
    form = MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = accounts.find_user_by_email(form.cleaned_data["email"])
        if user is None:
            form.add_error("email", _("No Relance account uses this e-mail address. The person needs an account first."))
        else:
            try:
                accounts.add_member(request.organisation, user, form.cleaned_data["role"], actor=actor(request))
            except ValidationError as error:
                show_service_errors(form, error)
            else:
                messages.success(request, _("Member added."))
                return redirect("backoffice:members")
    return render(request, "backoffice/member_add.html", {"form": form, "matrix": role_matrix()})


@requires("member.manage")
def member_role(request, membership_id: int):
    membership = _membership(request, membership_id)
    form = RoleForm(request.POST or None, initial={"role": membership.role})
    if request.method == "POST" and form.is_valid():
        try:
            accounts.change_role(membership, form.cleaned_data["role"], actor=actor(request))
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("Role changed."))
            return redirect("backoffice:members")
    return render(request, "backoffice/member_role.html", {"form": form, "member": membership,
                                                           "matrix": role_matrix()})


@requires("member.manage")
def member_remove(request, membership_id: int):
    membership = _membership(request, membership_id)
    error = None
    if request.method == "POST":
        try:
            accounts.remove_member(membership, actor=actor(request))
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, _("Member removed."))
            return redirect("backoffice:members" if membership.user_id != request.user.pk else "backoffice:home")
    return render(request, "backoffice/member_remove.html", {"member": membership, "error": error})
