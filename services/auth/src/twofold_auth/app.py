from fastapi import FastAPI

from twofold_common.runtime import create_service_app

from .settings import AuthSettings


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    return create_service_app(settings or AuthSettings(), title="Twofold auth")
