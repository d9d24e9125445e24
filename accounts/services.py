from django.db import transaction

from .models import Namespace


@transaction.atomic
def namespace_get_or_create(*, name):
    namespace, _ = Namespace.objects.get_or_create(name=name)
    return namespace
