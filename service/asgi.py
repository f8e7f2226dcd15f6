"""The ASGI entry point for servers: ``uvicorn service.asgi:app``."""

from service.app import create_app

app = create_app(own_process=True)
