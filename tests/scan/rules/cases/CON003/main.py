from fastapi import FastAPI

app = FastAPI()


@app.post("/generate")
async def generate(req: dict) -> dict:
    return {}


@app.get("/tokenize")
async def tokenize(text: str) -> dict:
    return {}
