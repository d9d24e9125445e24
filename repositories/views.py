from django.shortcuts import render

from .models import Repository


def home(request):
    recent = (
        Repository.objects.visible_to(request.user).catalog_after().order_by("-updated_at")[:12]
    )
    return render(request, "repositories/home.html", {"recent_repositories": recent})
