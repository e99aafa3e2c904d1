from django.urls import path
from django.views.generic import TemplateView

from . import views

app_name = "public"

urlpatterns = [
    path("", TemplateView.as_view(template_name="public/index.html"), name="index"),
    path("notices/<uuid:notice_uid>/", views.notice, name="notice"),
]
