from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N&page_size=M``; the page size is capped by HUB_API_PAGE_SIZE_MAX."""

    page_size_query_param = "page_size"

    @property
    def max_page_size(self):
        return settings.HUB_API_PAGE_SIZE_MAX


class RepositoryPagination(PageNumberPagination):
    """Pages of a queryset, or of search results (which page themselves, count
    only up to a cap, and may answer for a corrected query): both with
    ``count_capped`` and ``suggestion``, so a client reads every repository
    list alike."""

    found = None

    def paginate_search(self, run, request):
        """The results of ``run(page=..., page_size=...)`` (a SearchResults)."""
        self.request = request
        number = self._page_number(request)
        self.found = run(page=number, page_size=self.get_page_size(request))
        if number > max(1, self.found.num_pages):
            raise NotFound(
                self.invalid_page_message.format(
                    page_number=number, message="That page contains no results"
                )
            )
        return self.found.results

    def _page_number(self, request):
        raw = request.query_params.get(self.page_query_param) or "1"
        try:
            number = int(raw)
        except ValueError:
            number = 0
        if number < 1:
            raise NotFound(
                self.invalid_page_message.format(page_number=raw, message="Invalid page.")
            )
        return number

    def get_next_link(self):
        if self.found is None:
            return super().get_next_link()
        if self.found.page >= self.found.num_pages:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.page_query_param, self.found.page + 1)

    def get_previous_link(self):
        if self.found is None:
            return super().get_previous_link()
        if self.found.page <= 1:
            return None
        url = self.request.build_absolute_uri()
        if self.found.page == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.found.page - 1)

    def get_paginated_response(self, data):
        found = self.found
        return Response(
            {
                "count": found.total if found else self.page.paginator.count,
                "count_capped": bool(found and found.total_capped),
                "suggestion": found.suggestion if found else None,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        properties = response["properties"]
        response["properties"] = {
            "count": properties["count"],
            "count_capped": {
                "type": "boolean",
                "description": "A search counts up to a cap; then count is the cap.",
            },
            "suggestion": {
                "type": "string",
                "nullable": True,
                "description": "The corrected query these results are for, if q found nothing.",
            },
            **{key: value for key, value in properties.items() if key != "count"},
        }
        response["required"] = [*response.get("required", []), "count_capped", "suggestion"]
        return response
