set -e
git init -q .
git add . && git commit -qm init
