"""Image builds without Docker for the tests: the implementation lives with the dev cluster, which
builds the real node's images with it (tools/botfleet_tools/devcluster/image.py)."""

from botfleet_tools.devcluster.image import (
    BASE_PACKAGES,
    Buildah,
    Container,
    base_key,
    build_image,
    cache_dir,
    container,
    ensure_base_image,
    ensure_base_tarball,
    host_ca_bundle,
    missing_requirements,
    prune,
)

__all__ = ["BASE_PACKAGES", "Buildah", "Container", "base_key", "build_image", "cache_dir", "container",
           "ensure_base_image", "ensure_base_tarball", "host_ca_bundle", "missing_requirements", "prune"]
