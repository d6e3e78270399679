"""Solara's browser assets for machines without internet access.

A Solara page loads its JavaScript and CSS (the Vuetify app, RequireJS, Font Awesome) through the
server's CDN proxy: on first use the server fetches them from a public CDN and keeps them in
``solara.settings.assets.proxy_cache_dir``. Offline that fetch fails and the page stays blank.
:func:`install_assets` fills the cache from the npm registry instead (``npm pack``), with the exact
package versions the installed Solara's page template names::

    python -m labnet.runs.view.assets          # what .ci/run does; a no-op when present
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

__all__ = ["AssetError", "cache_dir", "required_packages", "missing_packages", "install_assets"]

_PACKAGE = re.compile(r"(?:\{\{\s*cdn\s*\}\}|\$\{this\.getCdn\(\)\})/((?:@[\w.-]+/)?[\w.-]+@\d+\.\d+\.\d+[\w.-]*)/")
"""A package named in a CDN address of Solara's page template (``{{cdn}}/...``) or of its widgets'
Vue templates (`` ${this.getCdn()}/... ``, e.g. the grid layout SolaraViz uses)."""


class AssetError(RuntimeError):
    """Solara's browser assets are missing and cannot be installed (no npm, registry unreachable)."""


def cache_dir() -> Path:
    """Where Solara's server looks for proxied CDN files."""
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def required_packages() -> list[str]:
    """The npm packages (``name@version``) the installed Solara's page template loads from the CDN."""
    import solara
    import solara.server

    from solara.server import settings

    template = Path(solara.server.__file__).with_name("templates") / "solara.html.j2"
    packages = _PACKAGE.findall(template.read_text(encoding="utf-8"))
    for vue in sorted((Path(solara.__file__).parent / "widgets" / "vue").glob("*.vue")):
        packages += _PACKAGE.findall(vue.read_text(encoding="utf-8"))
    if settings.assets.fontawesome_enabled:  # loaded from the CDN too, by a path in Solara's settings
        packages += _PACKAGE.findall("{{cdn}}" + settings.assets.fontawesome_path)
    return list(dict.fromkeys(packages))


def missing_packages() -> list[str]:
    """The required packages not yet in :func:`cache_dir`."""
    return [p for p in required_packages() if not (cache_dir() / p / "package.json").is_file()]


def install_assets(quiet: bool = True) -> list[str]:
    """Put every missing package into Solara's CDN cache; returns those installed.

    Raises:
        AssetError: npm is not installed or ``npm pack`` failed (the message says which package).
    """
    missing = missing_packages()
    if not missing:
        return []
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(f"Solara's browser assets {', '.join(missing)} are missing from {cache_dir()} and npm is "
                         "not installed to fetch them (apt-get install npm), or give the server internet access")
    with tempfile.TemporaryDirectory() as tmp:
        for package in missing:
            done = subprocess.run([npm, "pack", package, "--silent", "--pack-destination", tmp],
                                  capture_output=True, text=True, cwd=tmp)
            if done.returncode != 0:
                raise AssetError(f"npm pack {package} failed: {done.stderr.strip()[-500:]}")
            archive = Path(tmp) / done.stdout.strip().splitlines()[-1]
            target = cache_dir() / package
            target.mkdir(parents=True, exist_ok=True)
            with tarfile.open(archive) as tar:
                for member in tar.getmembers():
                    if not member.isfile() or not member.name.startswith("package/"):
                        continue
                    member.name = member.name[len("package/"):]
                    tar.extract(member, target, filter="data")
            if not quiet:
                print(f"installed {package} into {target}")
    return missing


if __name__ == "__main__":  # pragma: no cover - the CI step
    try:
        install_assets(quiet=False)
    except AssetError as exc:
        print(f"labnet: error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"Solara assets present in {cache_dir()}: {', '.join(required_packages())}")
