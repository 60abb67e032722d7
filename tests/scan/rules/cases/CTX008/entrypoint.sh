exec python /app/serve.py
