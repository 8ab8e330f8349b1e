from pydantic import Field

from ..sessions.schemas import CamelModel


class ClientCredentials(CamelModel):
    client_id: str = Field(min_length=3, max_length=64)
    client_secret: str = Field(min_length=8, max_length=200)


class ClientView(CamelModel):
    client_id: str
    name: str
    scopes: list[str]
    callback_urls: list[str]
    seed_mode: bool


class ClientForRedirects(ClientView):
    """What registration needs to redirect to the app: its URLs and the key that signs the redirect."""

    redirect_key: str = Field(description="hex")
