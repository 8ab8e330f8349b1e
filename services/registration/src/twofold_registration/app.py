from fastapi import FastAPI

from twofold_common.runtime import create_service_app

from .settings import RegistrationSettings


def create_app(settings: RegistrationSettings | None = None) -> FastAPI:
    return create_service_app(settings or RegistrationSettings(), title="Twofold registration")
