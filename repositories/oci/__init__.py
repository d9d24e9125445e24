"""Pure OCI and Docker distribution code: names, digests, media types and
manifest parsing. Nothing here imports Django."""
