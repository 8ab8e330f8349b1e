from fastapi import FastAPI

from twofold_common.runtime import create_service_app

from .settings import VaultSettings


def create_app(settings: VaultSettings | None = None) -> FastAPI:
    return create_service_app(settings or VaultSettings(), title="Twofold TOTP vault")
