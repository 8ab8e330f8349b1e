from fastapi import FastAPI

from twofold_common.runtime import create_service_app

from .settings import GatewaySettings


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    return create_service_app(settings or GatewaySettings(), title="Twofold API")
