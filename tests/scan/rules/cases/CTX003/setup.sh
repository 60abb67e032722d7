set -e
git init -q .
git add Dockerfile serve.py .gitignore
git commit -qm 'serve'
