"""Builders behind one interface: ``builder_for(name)`` ("buildah" or "docker")."""

from .base import BuildEnvironment, Builder
from .buildah import BuildahBuilder
from .docker import DockerBuilder

__all__ = ["BuildEnvironment", "Builder", "BuildahBuilder", "DockerBuilder", "builder_for"]

BUILDERS = {builder.name: builder for builder in (BuildahBuilder, DockerBuilder)}


def builder_for(name):
    try:
        return BUILDERS[name]
    except KeyError:
        raise ValueError(
            f"Unknown builder {name!r}: HUB_BUILDER must be one of {', '.join(BUILDERS)}."
        ) from None
