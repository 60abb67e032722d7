set -e
mkdir ../upstream && cd ../upstream && git init -q . && echo 'x = 1' > model.py && git add . && git commit -qm lib && cd - >/dev/null
git init -q .
git submodule -q add ../upstream third_party/lit-gpt
git add . && git commit -qm init
git submodule -q deinit -f third_party/lit-gpt
