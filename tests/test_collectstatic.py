"""`make demo` and production run collectstatic with the hashed, compressed storage: every vendored asset must
survive it (a file that names a missing source map, for one, fails the whole command)."""

from django.conf import settings
from django.core.management import call_command


def test_collectstatic_with_the_production_storage(tmp_path):
    from django.test.utils import override_settings

    storages = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
    assert (tmp_path / "staticfiles.json").exists()
    assert list(tmp_path.glob("vendor/chartjs/chart-4.6.1.umd.min.*.js"))
