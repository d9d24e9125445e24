"""GET /v2/<name>/referrers/<digest>."""

from .. import permissions, services
from ..oci.manifests import OCI_INDEX
from .base import authorized_repository, check_digest, json_response, registry_view


@registry_view(methods=("GET",))
def referrers(request, name, digest):
    check_digest(digest)
    repository = authorized_repository(request, name, permissions.PULL)
    artifact_type = request.GET.get("artifactType") or None
    found = services.referrers(repository=repository, digest=digest, artifact_type=artifact_type)
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
