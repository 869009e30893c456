#!/usr/bin/env bash
# Installs what mdl needs on a fresh Debian/Ubuntu machine, then the npm packages.
#
# WebGPU in Node runs on Dawn (the `webgpu` package). Without a GPU, Dawn needs a software Vulkan driver:
# Debian's `chromium` package ships SwiftShader's (/usr/lib/chromium/vk_swiftshader_icd.json), and
# `libvulkan1` is the Vulkan loader Dawn opens. The headless browser tests use the same chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -e /usr/lib/chromium/vk_swiftshader_icd.json ] || missing+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' || missing+=(libvulkan1)
# Chromium draws the page's Chinese example text (and its screenshots) only with a CJK font installed.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} (software WebGPU device, headless browser and its CJK font)"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "setup: need root to run: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
