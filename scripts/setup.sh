#!/usr/bin/env bash
# Danna-Sep Live set-up, the first of the README's two commands.
#
# On a fresh Debian machine (as root, or a user with sudo): installs the system packages, creates
# .venv with PyTorch (CPU) and the project in editable mode, then runs the main job: the built-in
# demo (a synthetic song separated into four stems, scored against its true stems).
#
#   bash scripts/setup.sh            set up and run the demo
#   bash scripts/setup.sh --no-demo  set up only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUN_DEMO=1
for arg in "$@"; do
    case "$arg" in
        --no-demo) RUN_DEMO=0 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Why each system package is here:
#   libsndfile1 libsoxr0      audio file I/O and resampling (soundfile, soxr)
#   libportaudio2 jackd2      live audio (sounddevice over PortAudio; tests run a JACK dummy server)
#   libtcmalloc-minimal4      a faster allocator for the networks' large activations (engine/allocator.py)
#   liblo-tools               oscsend/oscdump, an independent OSC client for the bridge's tests
#   fluidsynth fluid-soundfont-gm hydrogen-drumkits festival festvox-kallpc16k
#                             the synthetic training songs: GM instruments, real drum kits, sung vocals
#   timgm6mb-soundfont fluidr3mono-gm-soundfont hydrogen-data festvox-kdlpc16k
#                             more variety in them: two more training SoundFonts, two more kits, a second singer
#   musescore-general-soundfont-small
#                             the held-out SoundFont of the out-of-distribution test set (synth --palette ood)
#   g++ python3-dev           pyworld (WORLD vocoder for the sung vocals) builds from source
#   ffmpeg                    musdb (used for evaluation) refuses to import without it
#   xvfb + the X/GL/font libs the PyQt6 app and its screenshot under a virtual display
APT_PACKAGES=(
    ca-certificates openssl python3-venv g++ python3-dev
    libsndfile1 libsoxr0 libportaudio2 jackd2 liblo-tools libtcmalloc-minimal4
    fluidsynth fluid-soundfont-gm hydrogen-drumkits festival festvox-kallpc16k ffmpeg
    timgm6mb-soundfont fluidr3mono-gm-soundfont hydrogen-data festvox-kdlpc16k musescore-general-soundfont-small
    xvfb xauth libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0
    libxcb-image0 libxcb-xinerama0 libxcb-xkb1 fonts-dejavu-core
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${#missing[@]} Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $($PYTHON --version)"
    $PYTHON -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
# torch first, pinned: a plain 'torch' requirement would pull several GB of CUDA packages
echo "==> installing PyTorch 2.13.0 (CPU)"
"${PIP[@]}" install torch==2.13.0
echo "torch==2.13.0" > .venv/constraints.txt
echo "==> installing dannasep and its Python dependencies"
"${PIP[@]}" install -c .venv/constraints.txt -e ".[train,gui,test,onnx]"
# The peers of `dannasep bench peers`, which the importer tests also compare with: demucs 2.0.3 and
# asteroid 0.7.0. They declare torchaudio, pytorch-lightning, lameenc... (several GB, CUDA torch
# among them) that the parts we run never import. Installed as packages without those, pip would
# print "ERROR: pip's dependency resolver ..." after every later install; so their code goes into
# .venv/peers without its package metadata, on the import path through a .pth file, where pip does
# not look. The few dependencies they do use are ordinary packages.
echo "==> installing the peers' reference code (demucs 2.0.3, asteroid 0.7.0) into .venv/peers"
"${PIP[@]}" install -c .venv/constraints.txt diffq asteroid-filterbanks requests huggingface-hub
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for old in demucs asteroid; do  # an earlier set-up installed them as packages
    if .venv/bin/python -m pip --disable-pip-version-check show -q "$old" >/dev/null 2>&1; then
        "${PIP[@]}" uninstall -y "$old"
    fi
done
if [ ! -f .venv/peers/demucs/__init__.py ] || [ ! -f .venv/peers/asteroid/__init__.py ]; then
    rm -rf .venv/peers
    "${PIP[@]}" install --no-deps --no-compile --target .venv/peers demucs==2.0.3 asteroid==0.7.0
    rm -rf .venv/peers/*.dist-info .venv/peers/*.egg-info .venv/peers/bin
fi
echo "$PWD/.venv/peers" > "$SITE/dannasep-peers.pth"

echo "==> installed: $(.venv/bin/dannasep --version)"
if [ "$RUN_DEMO" -eq 1 ]; then
    echo "==> running the main job: dannasep demo"
    .venv/bin/dannasep demo
fi
