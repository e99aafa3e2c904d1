"""Long lists of the back-office: one page of rows at a time, the filters kept in the page links.

    page = paginate(request, queryset, per_page=50)
    render(..., {"page": page, ...})   # template: {% include "backoffice/_pagination.html" %}
"""

from __future__ import annotations

from django.core.paginator import Page, Paginator

PER_PAGE = 50


def paginate(request, rows, per_page: int = PER_PAGE) -> Page:
    """The page asked for by ?page= (a bad or too large number gives the nearest valid page), with
    `page.query` = the other GET parameters, so that the links keep the filters."""
    page = Paginator(rows, per_page).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    page.query = query.urlencode()
    return page
