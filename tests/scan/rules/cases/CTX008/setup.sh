set -e
mkdir -p ../src
echo "print('serve')" > ../src/serve.py
