"""What the build pipeline asks of a builder: build a Dockerfile into a
local image, push it to Hub's registry, and run a build hook. A builder
runs its commands through the pipeline's ``run`` (which streams their output
into the build's log, and stops them on cancel or timeout) and keeps its
scratch state under the build's workspace."""

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class BuildEnvironment:
    """Everything a builder needs to know about one build."""

    workspace: Path
    # Hub's registry as builders reach it: "host:port", and whether it is plain http.
    registry: str
    insecure: bool
    # Credentials for that registry: the build's own short-lived token.
    username: str
    token: str
    network: str = "host"
    # Where a repository's layer cache lives between builds (None: no cache).
    cache_dir: Path | None = None
    build_args: dict = field(default_factory=dict)

    @classmethod
    def registry_address(cls, url):
        """``(host:port, insecure)`` of a registry URL such as http://127.0.0.1:8000."""
        parts = urlsplit(url)
        return parts.netloc, parts.scheme == "http"

    def auth_file(self):
        """A containers-auth.json / Docker config.json holding the build token."""
        path = self.workspace / "auth.json"
        if not path.exists():
            secret = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
            path.write_text(json.dumps({"auths": {self.registry: {"auth": secret}}}))
            path.chmod(0o600)
        return path


class Builder:
    name = ""

    def __init__(self, environment, run):
        self.env = environment
        # run(argv, *, step, env=None, cwd=None): runs a command, its output
        # going to the build log; raises when it fails or the build must stop.
        self.run = run

    def build(self, *, context, dockerfile, image):
        """Build ``dockerfile`` with ``context`` into the local image ``image``."""
        raise NotImplementedError

    def push(self, *, image, destination):
        """Push ``image`` to ``destination`` (host/namespace/name:tag); returns its digest."""
        raise NotImplementedError

    def run_hook(self, *, hook, checkout, workdir, env):
        """Run the build hook ``hook`` (a path inside ``checkout``) in a
        container with the checkout mounted, never on the host itself."""
        raise NotImplementedError

    def cleanup(self):
        """Remove what this build left behind (the layer cache stays)."""
