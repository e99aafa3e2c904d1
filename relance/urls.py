from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="backoffice:home", permanent=False)),
    path("api/v1/", include("relance.api.urls")),
    path("app/", include("relance.backoffice.urls")),
    path("p/", include("relance.public.urls")),
]
