from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render


@login_required
def home(request):
    return render(request, "backoffice/home.html")


login_view = auth_views.LoginView.as_view(template_name="backoffice/login.html")


def locked_out(request, credentials, *args, **kwargs):
    return HttpResponse("locked", status=429)


def csrf_failure(request, reason=""):
    return HttpResponse("csrf", status=403)
