"""The distribution spec's error codes, one class each. Raising one from a
registry view answers with the spec's JSON body and status."""


class RegistryError(Exception):
    code = "UNKNOWN"
    status = 500
    message = "unknown error"

    def __init__(self, message=None, *, detail=None, headers=None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.detail = detail
        self.headers = headers or {}

    def as_dict(self):
        error = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return error


class BlobUnknown(RegistryError):
    code, status, message = "BLOB_UNKNOWN", 404, "blob unknown to registry"


class BlobUploadInvalid(RegistryError):
    code, status, message = "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"


class BlobUploadUnknown(RegistryError):
    code, status, message = "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"


class DigestInvalid(RegistryError):
    code, status, message = (
        "DIGEST_INVALID",
        400,
        "provided digest did not match uploaded content",
    )


class ManifestBlobUnknown(RegistryError):
    code, status, message = (
        "MANIFEST_BLOB_UNKNOWN",
        400,
        "manifest references a manifest or blob unknown to registry",
    )


class ManifestInvalid(RegistryError):
    code, status, message = "MANIFEST_INVALID", 400, "manifest invalid"


class ManifestTooLarge(ManifestInvalid):
    status = 413


class ManifestUnknown(RegistryError):
    code, status, message = "MANIFEST_UNKNOWN", 404, "manifest unknown to registry"


class NameInvalid(RegistryError):
    code, status, message = "NAME_INVALID", 400, "invalid repository name"


class NameUnknown(RegistryError):
    code, status, message = "NAME_UNKNOWN", 404, "repository name not known to registry"


class SizeInvalid(RegistryError):
    code, status, message = "SIZE_INVALID", 400, "provided length did not match content length"


class BlobTooLarge(SizeInvalid):
    status = 413


class RangeInvalid(BlobUploadInvalid):
    """A chunk that does not start where the upload stands."""

    status = 416


class Unauthorized(RegistryError):
    code, status, message = "UNAUTHORIZED", 401, "authentication required"


class Denied(RegistryError):
    code, status, message = "DENIED", 403, "requested access to the resource is denied"


class Unsupported(RegistryError):
    code, status, message = "UNSUPPORTED", 405, "the operation is unsupported"


class ParameterInvalid(Unsupported):
    """A query parameter the registry cannot make sense of."""

    status = 400


class TooManyRequests(RegistryError):
    code, status, message = "TOOMANYREQUESTS", 429, "too many requests"


class Unknown(RegistryError):
    """A failure nobody foresaw; its traceback is in the log, not the answer."""

    message = "internal server error"


class Unavailable(RegistryError):
    """Something the registry needs is down. The spec's list of codes binds
    4xx answers only; this is Docker's code for a 503
    (errcode.ErrorCodeUnavailable), which Docker clients know."""

    code, status, message = "UNAVAILABLE", 503, "service unavailable"


class InsufficientStorage(RegistryError):
    """The server's disk is full. No code in the spec's list fits: DENIED
    would send people looking for a permission problem, and
    BLOB_UPLOAD_INVALID says the upload can no longer proceed, when it can
    once space is freed. UNKNOWN is the code Docker clients turn any code
    they do not know into anyway (errcode.ParseErrorCode), so the status and
    the message carry the meaning."""

    code, status, message = (
        "UNKNOWN",
        507,
        "no space left on the server's storage; try again once space has been freed",
    )
