set -e
git init -q .
printf 'import os\nTOKEN = "hf_%s"\n' "$(printf 'QmVyc2lvbkxvcmFBZGFwdGVyWGtq%.0s' 1 | head -c 34)" > download.py
git add . && git commit -qm 'add download script'
printf 'import os\nTOKEN = os.environ["HF_TOKEN"]\n' > download.py
git commit -qam 'read the token from the environment'
