# Sourced by setup_webui.sh and setup_forge.sh: the venv recipe both WebUIs share (python 3.11).
#
#   build_webui_venv VENV PYTHON TREE [EXTRA_PACKAGE ...]
#
# torch 2.14.1 (CUDA build, runs on CPU) and the torchvision that imports beside it, then TREE's
# requirements_versions.txt without its setuptools pin: setuptools==69.5.1 there conflicts with torch 2.14.1
# (setuptools>=77.0.3) and would make pip downgrade torch; <81 keeps pkg_resources, which lightning_fabric imports.
# EXTRA_PACKAGE: what a WebUI needs beyond its requirements file (each caller says why).
# With UV set (the path of a uv binary, as .ci/run sets it) uv installs instead of pip: it unpacks torch's ~3 GB of
# CUDA libraries once into its cache and links them into each venv (measured: torch + torchvision 113 s with pip,
# 27 s with uv into the first venv, under 1 s into the next).
build_webui_venv() {
    local venv=$1 python=$2 tree=$3
    shift 3
    if [ ! -x "$venv/bin/python" ]; then
        log "creating venv $venv with $python"
        "$python" -m venv "$venv"
    fi
    local install=("$venv/bin/python" -m pip install) reqs
    [ -z "${UV:-}" ] || install=("$UV" pip install --python "$venv/bin/python")
    "${install[@]}" torch==2.14.1 torchvision==0.29.1
    reqs=$(mktemp)
    grep -v '^setuptools' "$tree/requirements_versions.txt" >"$reqs"
    "${install[@]}" -r "$reqs" torch==2.14.1 torchvision==0.29.1 'setuptools>=77.0.3,<81' "$@"
    rm -f "$reqs"
    "$venv/bin/python" -m pip check
}
