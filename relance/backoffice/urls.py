from django.urls import path

from .views import auth

app_name = "backoffice"

urlpatterns = [
    path("", auth.home, name="home"),
    path("login/", auth.login_view, name="login"),
]
