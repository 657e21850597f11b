#!/bin/sh
# Installs dhan-trading into a virtualenv in two steps, so the image's dependency layer is cached apart from
# the code. Dockerfile.feed and Dockerfile.viz run it, and so does tests/deploy/test_image_install.py (in a
# temporary venv, the same lines), so a broken install step fails CI before anyone builds an image.
#
#   install-python.sh deps VENV [EXTRA]  third-party dependencies named in pyproject.toml (plus EXTRA's, e.g. gui)
#   install-python.sh app VENV           the package itself, without dependencies; compiles the native paths (gcc)
#   install-python.sh check VENV         the native fast paths import and `dhan --help` runs
#   install-python.sh prune VENV         pip and setuptools out: they install, the image only runs (-25 MB)
#
# Run it from the source directory (pyproject.toml, setup.py, README.md and the packages).
set -eu

step=${1:?usage: install-python.sh deps|app|check|prune VENV [EXTRA]}
venv=${2:?usage: install-python.sh deps|app|check|prune VENV [EXTRA]}
extra=${3:-}

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
py="$venv/bin/python"

case "$step" in
    deps)
        req="$venv/requirements-from-pyproject.txt"
        "$py" -c '
import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
names = list(project["dependencies"])
for extra in filter(None, sys.argv[1].split(",")):
    names += project["optional-dependencies"][extra]
print("\n".join(names))
' "$extra" > "$req"
        "$py" -m pip install --no-input --progress-bar off -r "$req"
        ;;
    app)
        "$py" -m pip install --no-input --progress-bar off --no-deps .
        ;;
    check)
        # setup.py marks the extensions optional (a laptop without a compiler still installs); an image is
        # built with gcc, so a missing extension here is a build failure, not a 3x slower feed or writer.
        # -I and cd /: the installed package, not the source tree in the current directory.
        cd /
        "$py" -I -c 'import feed._fastfeed, shared._depthpack, writer._rowfmt'
        "$venv/bin/dhan" --help > /dev/null
        ;;
    prune)
        "$py" -m pip uninstall --yes --quiet pip setuptools
        ;;
    *)
        echo "install-python.sh: unknown step '$step' (deps, app, check or prune)" >&2
        exit 2
        ;;
esac
