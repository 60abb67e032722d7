set -e
# The adapter exists on the submitter's disk but is git-ignored (outputs/ in .gitignore), so
# it is created here: a committed copy would be ignored by this repository's git too.
mkdir -p outputs/lora-adapter
printf '{}\n' > outputs/lora-adapter/adapter_config.json
git init -q .
git add Dockerfile serve.py .gitignore
git commit -qm 'serve'
