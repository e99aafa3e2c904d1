from django.urls import include, path, re_path
from django.views.generic import RedirectView

from relance.api.hooks import hook

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="backoffice:home", permanent=False)),
    path("api/v1/", include("relance.api.urls")),
    path("app/", include("relance.backoffice.urls")),
    path("p/", include("relance.public.urls")),
    path("", include("relance.ops.urls")),
    re_path(r"^hooks/(?P<kind>[a-z]+)/(?P<token>[A-Za-z0-9_-]{8,64})/(?P<which>receipts|inbound)$", hook,
            name="provider-hook"),
]
