"""GET /v2/<name>/referrers/<digest>."""

from .. import permissions, services
from ..oci.manifests import OCI_INDEX
from .auth import authorize
from .base import check_digest, check_name, json_response, registry_view


@registry_view(methods=("GET",))
def referrers(request, name, digest):
    check_name(name)
    check_digest(digest)
    repository = services.repository_find(name=name)
    authorize(request, name=name, repository=repository, action=permissions.PULL)
    artifact_type = request.GET.get("artifactType") or None
    found = (
        services.referrers(repository=repository, digest=digest, artifact_type=artifact_type)
        if repository
        else []
    )
    descriptors = []
    for manifest in found:
        descriptor = {
            "mediaType": manifest.media_type,
            "digest": manifest.digest,
            "size": manifest.size,
        }
        if manifest.artifact_type:
            descriptor["artifactType"] = manifest.artifact_type
        if manifest.annotations:
            descriptor["annotations"] = manifest.annotations
        descriptors.append(descriptor)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    return json_response(body, content_type=OCI_INDEX, headers=headers)
