from fastapi import FastAPI

app = FastAPI()


@app.post("/process")
async def process(req: dict) -> dict:
    return {}


@app.post("/tokenize")
async def tokenize(req: dict) -> dict:
    return {}


@app.post("/decode")
async def decode(req: dict) -> dict:
    return {}
