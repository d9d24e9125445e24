"""buildah, with chroot isolation: no daemon, and nothing but the build's
own processes on the worker. Each build gets its own storage, except that
a rule with caching on keeps its repository's storage between builds and
builds with ``--layers``, so unchanged steps are not run again.

Chroot isolation shares the worker's network. With HUB_BUILD_NETWORK=none
the RUN steps get a network namespace of their own with nothing in it,
which takes OCI isolation (runc); base images are still pulled by buildah
itself, outside the steps."""

import shutil

from django.conf import settings

from .base import Builder


class BuildahBuilder(Builder):
    name = "buildah"

    def __init__(self, environment, run):
        super().__init__(environment, run)
        workspace = environment.workspace
        self.cached = environment.cache_dir is not None
        self.isolation = "chroot" if environment.network == "host" else "oci"
        self.root = (environment.cache_dir if self.cached else workspace) / "storage"
        # Inside the workspace, so whatever removes the workspace removes it too.
        self.runroot = workspace / "run"
        for name in ("home", "tmp", "run"):
            (workspace / name).mkdir(exist_ok=True)
        registries = workspace / "registries.conf"
        lines = ['unqualified-search-registries = ["docker.io"]']
        if environment.insecure:
            lines += ["[[registry]]", f'location = "{environment.registry}"', "insecure = true"]
        registries.write_text("\n".join(lines) + "\n")
        self.command_env = {
            "CONTAINERS_REGISTRIES_CONF": str(registries),
            "REGISTRY_AUTH_FILE": str(environment.auth_file()),
            "BUILDAH_ISOLATION": self.isolation,
            "HOME": str(workspace / "home"),
            "TMPDIR": str(workspace / "tmp"),
        }
        self.buildah = [
            shutil.which("buildah") or "buildah",
            "--root", str(self.root),
            "--runroot", str(self.runroot),
            "--storage-driver", settings.HUB_BUILDAH_STORAGE_DRIVER,
        ]  # fmt: skip
        self.image = None

    def _run(self, *argv, step, **kwargs):
        return self.run([*self.buildah, *argv], step=step, env=self.command_env, **kwargs)

    def build(self, *, context, dockerfile, image):
        argv = [
            "bud",
            "--isolation", self.isolation,
            # Docker's image format keeps HEALTHCHECK, SHELL and ONBUILD, which OCI's drops.
            "--format", "docker",
            "--network", self.env.network,
            f"--layers={'true' if self.cached else 'false'}",
            # A cached base image is checked for a newer one (a rebuilt base, say).
            "--pull=true",
            "--file", str(dockerfile),
            "--tag", image,
        ]  # fmt: skip
        for name, value in self.env.build_args.items():
            argv += ["--build-arg", f"{name}={value}"]
        self._run(*argv, str(context), step="Building the image")
        self.image = image

    def push(self, *, image, destination):
        digest_file = self.env.workspace / "digest"
        self._run(
            "push",
            "--digestfile",
            str(digest_file),
            image,
            f"docker://{destination}",
            step=f"Pushing {destination}",
        )
        return digest_file.read_text().strip()

    def run_hook(self, *, hook, checkout, workdir, env):
        started = self._run(
            "from", "--pull=true", "--quiet", hook_image(self.env), step="Starting the hook image",
            quiet=True,
        )  # fmt: skip
        container = started.output.strip().splitlines()[-1]
        try:
            argv = [
                "run",
                "--isolation", self.isolation,
                "--network", self.env.network,
                "--volume", f"{checkout}:/src",
                "--workingdir", f"/src/{workdir}".rstrip("/"),
            ]  # fmt: skip
            for name, value in env.items():
                argv += ["--env", f"{name}={value}"]
            self._run(*argv, container, "--", "sh", f"/src/{hook}", step=f"Running {hook}")
        finally:
            self._run("rm", container, step="Removing the hook container", quiet=True, check=False)

    def cleanup(self):
        if self.cached and self.image:
            # The cache keeps the layers; the build's own name would pile up.
            self._run("rmi", self.image, step="Untagging the image", quiet=True, check=False)


def hook_image(environment):
    """HUB_BUILD_HOOK_IMAGE, from Hub's own registry unless it names another."""
    image = settings.HUB_BUILD_HOOK_IMAGE
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"{environment.registry}/{image}"
