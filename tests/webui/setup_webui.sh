#!/usr/bin/env bash
# Prepare a real AUTOMATIC1111 Stable Diffusion WebUI v1.10.1 for the tests in tests/webui/.
#
# The WebUI is not on any package registry, and its own launcher clones its helper repositories
# from the network.  So the sources come from one of three places, and this script only unpacks or
# exports them and builds the venv; nothing of the WebUI is ever committed to this project.
#
# usage: bash tests/webui/setup_webui.sh SOURCE WEBUI_DIR
#
#   SOURCE       one of
#                * a source bundle (*.tar.gz) holding one folder with the WebUI tree at v1.10.1 and its five
#                  helper repositories under repositories/, each with an .exported-commit file (the project's
#                  shared sd-webui-v1.10.1.tar.gz is one; CI uses it);
#                * a folder of git mirrors, one git directory per repository, found by "owner+name":
#                  SOURCE/<owner>+<name>/repo, SOURCE/<owner>+<name>(.git) or SOURCE/<owner>/<name>(.git).
#                  Needed: a repository holding the WebUI tag v1.10.1 (AUTOMATIC1111/stable-diffusion-webui,
#                  or the fork kklouzal/stable-diffusion-webui that carries the upstream tags),
#                  Stability-AI/stablediffusion, Stability-AI/generative-models, crowsonkb/k-diffusion,
#                  salesforce/BLIP and AUTOMATIC1111/stable-diffusion-webui-assets, at the commits pinned below;
#                * the word "clone": where there is network, clone those repositories from GitHub first
#                  (into WEBUI_DIR/.mirrors) and go on as with mirrors.
#                Whatever the source, the WebUI and every helper repository must be at the pinned commits.
#   WEBUI_DIR    where the WebUI goes (created if missing).  Re-running is cheap: trees already at the pinned
#                commits are kept (FORCE=1 unpacks them again), pip installs only what is missing;
#                models/, extensions/, config.json and outputs are never touched.
#
# Environment:
#   PYTHON           interpreter for the venv (default: python3.11)
#   SD_WEBUI_VENV    venv location (default: WEBUI_DIR/venv, where the WebUI's own scripts look)
#   SKIP_VENV=1      only unpack or export the sources
#   FORCE=1          unpack or export the sources again even where .exported-commit says they are current
#
# Afterwards: SD_WEBUI_DIR=WEBUI_DIR python -m pytest tests/webui   (see tests/webui/README.md)
set -euo pipefail

if [ $# -ne 2 ]; then
    sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
SOURCE=$1
mkdir -p "$2"
WEBUI=$(cd "$2" && pwd)
PYTHON=${PYTHON:-python3.11}
VENV=${SD_WEBUI_VENV:-$WEBUI/venv}

WEBUI_TAG=v1.10.1
WEBUI_COMMIT=82a973c04367123ae98bd9abdf80d9eda9b910e2
# dir under repositories/ | owner/name | commit  (the pins of modules/launch_utils.py:prepare_environment in v1.10.1)
REPOS="
stable-diffusion-stability-ai Stability-AI/stablediffusion cf1d67a6fd5ea1aa600c4df58e5b47da45f6bdbf
generative-models Stability-AI/generative-models 45c443b316737a4ab6e40413d7794a7f5657c19f
k-diffusion crowsonkb/k-diffusion ab527a9a6d347f364e3d185ba6d714e22d80cb3c
BLIP salesforce/BLIP 48211a1594f1321b00f14c9f7a5b4813144b2fb9
stable-diffusion-webui-assets AUTOMATIC1111/stable-diffusion-webui-assets 6f7db241d2f8ba7457bac5ca9753331f0c266917
"

log() { printf '[setup_webui] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=webui_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/webui_venv.sh"

# find_gitdir OWNER/NAME COMMIT -> prints the git dir under $MIRRORS holding COMMIT
find_gitdir() {
    local slug=$1 commit=$2 owner=${1%%/*} name=${1#*/} cand
    for cand in "$MIRRORS/$owner+$name/repo" "$MIRRORS/$owner+$name" "$MIRRORS/$owner+$name.git" \
                "$MIRRORS/$owner/$name" "$MIRRORS/$owner/$name.git" "$MIRRORS/$owner+$name/repo.git"; do
        [ -d "$cand" ] || continue
        if git --git-dir="$cand" cat-file -e "$commit^{commit}" 2>/dev/null; then
            echo "$cand"; return 0
        fi
        if [ -d "$cand/.git" ] && git --git-dir="$cand/.git" cat-file -e "$commit^{commit}" 2>/dev/null; then
            echo "$cand/.git"; return 0
        fi
    done
    return 1
}

# export_tree GITDIR COMMIT DEST: file by file, because the mirrors may lack big blobs (>= 4 MiB),
# which makes `git archive` fail; the missing files (sample images) are not needed.
export_tree() {
    local gd=$1 c=$2 dest=$3 line meta path mode type sha skipped=0
    while IFS= read -r -d '' line; do
        meta=${line%%$'\t'*} path=${line#*$'\t'}
        read -r mode type sha <<<"$meta"
        if [ "$type" != blob ] || ! git --git-dir="$gd" cat-file -e "$sha" 2>/dev/null; then
            skipped=$((skipped + 1)); log "  skip $path ($type not in mirror)"; continue
        fi
        mkdir -p "$dest/$(dirname "$path")"
        if [ "$mode" = 120000 ]; then
            ln -sfn "$(git --git-dir="$gd" cat-file blob "$sha")" "$dest/$path"
        else
            git --git-dir="$gd" cat-file blob "$sha" >"$dest/$path"
            [ "$mode" = 100755 ] && chmod +x "$dest/$path"
        fi
    done < <(git --git-dir="$gd" ls-tree -r -z "$c")
    [ "$skipped" -eq 0 ] || log "  $skipped entries skipped"
}

# from_mirrors: the WebUI tree (archives cleanly) and the five pinned repositories, exported file by file
from_mirrors() {
    local webui_gd="" slug tag_commit dir commit gd dest
    for slug in AUTOMATIC1111/stable-diffusion-webui kklouzal/stable-diffusion-webui; do
        webui_gd=$(find_gitdir "$slug" "$WEBUI_COMMIT") && break || webui_gd=""
    done
    [ -n "$webui_gd" ] || die "no mirror under $MIRRORS holds WebUI commit $WEBUI_COMMIT ($WEBUI_TAG)"
    tag_commit=$(git --git-dir="$webui_gd" rev-parse --verify -q "$WEBUI_TAG^{commit}" || true)
    [ -z "$tag_commit" ] || [ "$tag_commit" = "$WEBUI_COMMIT" ] ||
        die "$webui_gd: tag $WEBUI_TAG is $tag_commit, expected $WEBUI_COMMIT"
    if is_current "$WEBUI" "$WEBUI_COMMIT"; then
        log "WebUI: already at $WEBUI_TAG ($WEBUI_COMMIT)"
    else
        log "WebUI $WEBUI_TAG ($WEBUI_COMMIT) from $webui_gd -> $WEBUI"
        git --git-dir="$webui_gd" archive "$WEBUI_COMMIT" | tar -x -C "$WEBUI"
        echo "$WEBUI_COMMIT" >"$WEBUI/.exported-commit"
    fi
    mkdir -p "$WEBUI/repositories"
    while read -r dir slug commit; do
        [ -n "$dir" ] || continue
        gd=$(find_gitdir "$slug" "$commit") || die "no mirror under $MIRRORS holds $slug at $commit"
        dest="$WEBUI/repositories/$dir"
        if is_current "$dest" "$commit"; then
            log "$dir: already at $commit"; continue
        fi
        log "$dir: $slug $commit from $gd"
        rm -rf "$dest.partial"
        export_tree "$gd" "$commit" "$dest.partial"
        echo "$commit" >"$dest.partial/.exported-commit"
        rm -rf "$dest"
        mv "$dest.partial" "$dest"
    done <<<"$REPOS"
}

# is_current DIR COMMIT: DIR was unpacked at COMMIT already (and FORCE is not set)
is_current() {
    [ "${FORCE:-0}" != 1 ] && [ -f "$1/.exported-commit" ] && [ "$(cat "$1/.exported-commit")" = "$2" ]
}

# from_bundle FILE: unpack a source bundle over $WEBUI (its own files only), after checking every pin in it
from_bundle() {
    local bundle=$1 top tmp dir slug commit found
    if is_current "$WEBUI" "$WEBUI_COMMIT" && pins_match "$WEBUI"; then
        log "WebUI: already at $WEBUI_TAG ($WEBUI_COMMIT), repositories at their pins"; return 0
    fi
    tmp=$(mktemp -d)
    log "WebUI from bundle $bundle"
    tar -xzf "$bundle" -C "$tmp" || { rm -rf "$tmp"; die "$bundle: not a tar.gz source bundle"; }
    top=$(ls -A "$tmp")
    [ "$(printf '%s\n' "$top" | wc -l)" = 1 ] || { rm -rf "$tmp"; die "$bundle: expected one top folder, found: $top"; }
    found=$(cat "$tmp/$top/.exported-commit" 2>/dev/null || true)
    [ "$found" = "$WEBUI_COMMIT" ] || { rm -rf "$tmp"; die "$bundle holds WebUI commit '${found:-?}', expected $WEBUI_COMMIT ($WEBUI_TAG)"; }
    pins_match "$tmp/$top" || { rm -rf "$tmp"; die "$bundle: a helper repository is not at its pin (see above)"; }
    rm -rf "$WEBUI/repositories"
    cp -a "$tmp/$top/." "$WEBUI/"
    rm -rf "$tmp"
}

# pins_match DIR: every helper repository under DIR/repositories is at its pinned commit
pins_match() {
    local root=$1 dir slug commit found ok=0
    while read -r dir slug commit; do
        [ -n "$dir" ] || continue
        found=$(cat "$root/repositories/$dir/.exported-commit" 2>/dev/null || true)
        [ "$found" = "$commit" ] || { log "  repositories/$dir: '${found:-missing}', expected $slug at $commit"; ok=1; }
    done <<<"$REPOS"
    return $ok
}

# clone_mirrors DIR: bare clones of the six repositories from GitHub (needs network)
clone_mirrors() {
    local dir slug commit
    mkdir -p "$1"
    while read -r dir slug commit; do
        [ -n "$slug" ] || continue
        [ -d "$1/${slug/\//+}.git" ] || git clone --bare --quiet "https://github.com/$slug.git" "$1/${slug/\//+}.git"
    done <<<"webui AUTOMATIC1111/stable-diffusion-webui $WEBUI_COMMIT
$REPOS"
}

t0=$SECONDS
if [ "$SOURCE" = clone ]; then
    MIRRORS="$WEBUI/.mirrors"
    clone_mirrors "$MIRRORS"
    from_mirrors
elif [ -f "$SOURCE" ]; then
    from_bundle "$SOURCE"
elif [ -d "$SOURCE" ]; then
    MIRRORS=$(cd "$SOURCE" && pwd)
    from_mirrors
else
    die "SOURCE '$SOURCE' is neither a source bundle, a folder of mirrors, nor 'clone'"
fi
log "sources ready ($((SECONDS - t0)) s)"

# 3. the venv (python 3.11)
if [ "${SKIP_VENV:-0}" = 1 ]; then exit 0; fi
# openai-clip provides `clip` (k_diffusion/evaluation.py imports it; the launcher would install it from a zip).
build_webui_venv "$VENV" "$PYTHON" "$WEBUI" openai-clip==1.0.1
log "done in $((SECONDS - t0)) s: WEBUI=$WEBUI venv=$VENV"
