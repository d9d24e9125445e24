"""A Docker (or BuildKit-enabled Docker) daemon reached through DOCKER_HOST,
as production build farms run them. The daemon keeps its own layer cache;
a rule with caching off builds with ``--no-cache``. The daemon must treat
Hub's registry as insecure when it is plain http (127.0.0.0/8 is by
default), and build hooks mount the checkout, so the daemon must run on the
worker's host."""

import json
import os
import re
import shutil

from .base import Builder
from .buildah import hook_image

PUSHED_DIGEST_RE = re.compile(r"digest: (sha256:[0-9a-f]{64})")


class DockerBuilder(Builder):
    name = "docker"

    def __init__(self, environment, run):
        super().__init__(environment, run)
        config = environment.workspace / "docker"
        config.mkdir(exist_ok=True)
        # The CLI reads credentials from DOCKER_CONFIG/config.json, the same format.
        (config / "config.json").write_text(environment.auth_file().read_text())
        # BuildKit or the classic builder: the operator's DOCKER_BUILDKIT decides.
        self.command_env = {"DOCKER_CONFIG": str(config)}
        self.buildkit = os.environ.get("DOCKER_BUILDKIT") == "1"
        self.docker = shutil.which("docker") or "docker"
        self.images = []

    def _run(self, *argv, step, **kwargs):
        return self.run([self.docker, *argv], step=step, env=self.command_env, **kwargs)

    def build(self, *, context, dockerfile, image):
        argv = ["build", "--pull", "--network", self.env.network]
        if self.buildkit:
            argv += ["--progress", "plain"]
        argv += ["--file", str(dockerfile), "--tag", image]
        if self.env.cache_dir is None:
            argv.append("--no-cache")
        for name, value in self.env.build_args.items():
            argv += ["--build-arg", f"{name}={value}"]
        self._run(*argv, str(context), step="Building the image")
        self.images.append(image)

    def push(self, *, image, destination):
        self._run("tag", image, destination, step=f"Tagging {destination}", quiet=True)
        self.images.append(destination)
        output = self._run("push", destination, step=f"Pushing {destination}").output
        found = PUSHED_DIGEST_RE.findall(output)
        if found:
            return found[-1]
        inspected = self._run(
            "image", "inspect", "--format", "{{json .RepoDigests}}", destination,
            step="Reading the pushed digest", quiet=True,
        ).output  # fmt: skip
        for reference in json.loads(inspected or "[]"):
            name, _, digest = reference.partition("@")
            if name == destination.rsplit(":", 1)[0]:
                return digest
        raise RuntimeError(f"docker push did not report the digest of {destination}.")

    def run_hook(self, *, hook, checkout, workdir, env):
        argv = ["run", "--rm", "--network", self.env.network, "--volume", f"{checkout}:/src"]
        argv += ["--workdir", f"/src/{workdir}".rstrip("/")]
        for name, value in env.items():
            argv += ["--env", f"{name}={value}"]
        argv += [hook_image(self.env), "sh", f"/src/{hook}"]
        self._run(*argv, step=f"Running {hook}")

    def cleanup(self):
        if self.images:
            self._run("rmi", *self.images, step="Removing images", quiet=True, check=False)
