#!/bin/bash
# Try relrun on a real project as a new user would (docs/real-projects.md):
# clone MIRROR (a git repository: the library's /work/.mirror/OWNER+NAME/repo,
# or any clone) into a temp folder with a bare clone of it as origin, then run
# version, doctor, config, prepare, a dry run, a whole local release of NEWVER
# and verify. Not a test: it prints what happened, for a person to read.
#
#   BUMP='sed -i "s/^version = \"1.0\"/version = \"1.1\"/" pyproject.toml' \
#     tools/try-real-project.sh /path/to/repo 1.1 [--skip-dependency-check]
#
# BUMP: a shell command run in the clone before the release (a static
# version's release commit); it is committed and pushed to the origin.
set -u
SOURCE=$1; NEWVER=$2; shift 2
R=${RELRUN:-relrun}
T=$(mktemp -d /tmp/relrun-try.XXXXXX)
git clone -q "$SOURCE" "$T/work" && cd "$T/work" || exit 1
BR=$(git symbolic-ref --short HEAD)
git clone -q --bare . "$T/origin.git"
git remote set-url origin "$T/origin.git"
git fetch -q origin
git branch -q --set-upstream-to="origin/$BR"
echo "folder $T, commit $(git rev-parse HEAD), branch $BR"
run() { echo; echo "\$ relrun $*"; "$R" "$@" 2>&1 | tail -n "${TAILN:-40}"; echo "[exit ${PIPESTATUS[0]}]"; }
run version --explain
if /usr/bin/python3 -c 'import setuptools_scm' 2>/dev/null; then
  echo "setuptools_scm says: $(/usr/bin/python3 -m setuptools_scm 2>&1 | tail -n 1)"
fi
run doctor --offline
TAILN=3 run doctor --offline --json
run release config
TAILN=12 run release prepare
run release tag --bump patch --dry-run
if [ -n "${BUMP:-}" ]; then
  echo; echo "\$ $BUMP  (committed and pushed)"
  bash -c "$BUMP" && git -c user.name=Try -c user.email=try@example.com commit -qam "Release $NEWVER" &&
    git push -q origin HEAD
fi
TAILN=60 run release --version "$NEWVER" --yes "$@"
run verify --no-deps "$NEWVER"
echo "tags at HEAD: $(git tag --points-at HEAD | tr '\n' ' ')"
