set -e
mkdir -p models
ln -s ../weights/config.json models/config.json
