"""A small app behind bearer auth, shaped like the FastAPI full-stack template's backend (no
code shared with `sut/` or that template): OpenAPI under /api/v1, an OAuth2 password login,
protected routes with UUID, integer and enum path parameters, a health check under /utils.

`python tests/own_service/auth_app.py --port P [--login-delay-ms D] [--store URL]` (D: a slow
password hash; URL: an HTTP "session store" every protected call and the health check ask, the
dependency a gate cuts).
Test-only controls: `POST /api/v1/_expire` revokes every token; `GET /api/v1/_stats` counts.
"""

# no `from __future__ import annotations`: FastAPI reads the local `Depends(user)` at once

import argparse
import asyncio
import secrets
import uuid
from enum import StrEnum
from typing import Annotated, Any

import httpx
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Path
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

USER, PASSWORD = "admin@example.com", "changethis"
PREFIX = "/api/v1"


class Colour(StrEnum):
    red = "red"
    green = "green"


def create_app(login_delay_s: float = 0.0, store: str | None = None) -> FastAPI:
    app = FastAPI(title="auth-app", openapi_url=f"{PREFIX}/openapi.json")
    client = httpx.AsyncClient(timeout=1.0)

    async def ask_store() -> None:
        if store is None:
            return
        try:
            (await client.get(store)).raise_for_status()
        except httpx.HTTPError as error:
            raise HTTPException(503, f"session store: {type(error).__name__}") from None

    oauth2 = OAuth2PasswordBearer(tokenUrl=f"{PREFIX}/login/access-token")
    tokens: set[str] = set()
    items = {uuid.uuid4(): {"title": f"item {n}"} for n in range(5)}
    stats = {"logins": 0, "unauthorized": 0}

    async def user(token: Annotated[str, Depends(oauth2)]) -> str:
        await ask_store()
        if token not in tokens:
            stats["unauthorized"] += 1
            raise HTTPException(401, "Could not validate credentials")
        return USER

    @app.post(f"{PREFIX}/login/access-token")
    async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, str]:
        await asyncio.sleep(login_delay_s)
        if (form.username, form.password) != (USER, PASSWORD):
            raise HTTPException(400, "Incorrect email or password")
        stats["logins"] += 1
        token = secrets.token_hex(16)
        tokens.add(token)
        return {"access_token": token, "token_type": "bearer"}

    @app.get(f"{PREFIX}/utils/health-check/")
    async def health() -> bool:
        await ask_store()
        return True

    @app.get(f"{PREFIX}/items/")
    async def list_items(who: Annotated[str, Depends(user)]) -> dict[str, Any]:
        return {"data": [{"id": str(k), **v} for k, v in items.items()], "count": len(items)}

    @app.get(f"{PREFIX}/items/{{item_id}}")
    async def read_item(item_id: uuid.UUID, who: Annotated[str, Depends(user)]) -> dict[str, Any]:
        if item_id not in items:
            raise HTTPException(404, "Item not found")
        return {"id": str(item_id), **items[item_id]}

    @app.get(f"{PREFIX}/pages/{{page}}")
    async def page(
        page: Annotated[int, Path(ge=1, le=20)], who: Annotated[str, Depends(user)]
    ) -> dict[str, int]:
        return {"page": page}

    @app.get(f"{PREFIX}/colours/{{colour}}")
    async def colour(colour: Colour, who: Annotated[str, Depends(user)]) -> dict[str, str]:
        return {"colour": colour.value}

    @app.post(f"{PREFIX}/_expire", include_in_schema=False)
    async def expire() -> dict[str, int]:
        revoked = len(tokens)
        tokens.clear()
        return {"revoked": revoked}

    @app.get(f"{PREFIX}/_stats", include_in_schema=False)
    async def read_stats() -> dict[str, int]:
        return dict(stats)

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--login-delay-ms", type=float, default=0.0)
    parser.add_argument("--store", default=None, help="http://127.0.0.1:PORT/ of the store")
    args = parser.parse_args()
    app = create_app(args.login_delay_ms / 1000, args.store)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
