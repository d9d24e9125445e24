"""`manage.py sweep`: every sweep once, as beat runs them, or this host's
scratch files alone."""

import io
import os
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from repositories import blobstore, services
from repositories.models import Repository, Upload

pytestmark = pytest.mark.django_db(transaction=True)

HOUR = 3600


def backdate(path, *, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def leftovers(isolated_storage, settings):
    """One of each thing a failed push leaves, all old enough to go."""
    settings.HUB_UPLOAD_MAX_AGE = 6 * HOUR
    settings.HUB_SCRATCH_MAX_AGE = HOUR
    long_ago = timezone.now() - timezone.timedelta(hours=7)

    repository = services.repository_get_or_create(name="alice/abandoned")
    stale = services.upload_start(repository=repository)
    services.upload_append(upload=stale, stream=io.BytesIO(b"stalled"), length=7)
    Upload.objects.filter(pk=stale.pk).update(updated_at=long_ago)
    Repository.objects.filter(pk=repository.pk).update(created_at=long_ago)

    ended = services.upload_start(repository=services.repository_get_or_create(name="alice/kept"))
    services.upload_append(upload=ended, stream=io.BytesIO(b"cancelled"), length=9)
    ended_file = Path(blobstore.staging_path(ended.uuid))
    Upload.objects.filter(pk=ended.pk).delete()  # its process died before removing the file
    backdate(ended_file, seconds=2 * HOUR)

    scratch = Path(django_settings.HUB_SCRATCH_DIR)
    scratch.mkdir(parents=True, exist_ok=True)
    dead_request = scratch / "blob-dead-request"
    dead_request.write_bytes(b"x" * 1000)
    backdate(dead_request, seconds=2 * HOUR)

    return {
        "stale upload": Path(blobstore.staging_path(stale.uuid)),
        "ended upload": ended_file,
        "scratch": dead_request,
        "repository": repository,
    }


def test_sweep_runs_every_sweep_once(leftovers, capsys):
    call_command("sweep")

    assert capsys.readouterr().out.strip() == (
        "Deleted 1 stale upload sessions, 1 abandoned repositories, 0 orphaned upload parts, "
        "1 orphaned staging files, 1 scratch files."
    )
    for kind in ("stale upload", "ended upload", "scratch"):
        assert not leftovers[kind].exists(), kind
    assert not Repository.objects.filter(pk=leftovers["repository"].pk).exists()
    assert Repository.objects.filter(name="kept").exists()  # not old: a push may come back


def test_scratch_only_touches_nothing_but_this_hosts_scratch_files(leftovers, capsys):
    call_command("sweep", "--scratch-only")

    assert capsys.readouterr().out.strip() == "Deleted 1 scratch files."
    assert not leftovers["scratch"].exists()
    assert leftovers["stale upload"].exists() and leftovers["ended upload"].exists()
    assert Upload.objects.count() == 1
    assert Repository.objects.filter(pk=leftovers["repository"].pk).exists()


def test_beat_sweeps_every_ten_minutes():
    entry = django_settings.CELERY_BEAT_SCHEDULE["sweep-stale-uploads"]
    assert (entry["task"], entry["schedule"]) == ("repositories.tasks.upload_sweep_task", 600.0)
