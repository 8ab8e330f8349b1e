from fastapi import APIRouter

from twofold_common.errors import problem_responses
from twofold_common.runtime import SessionDep, internal_only

from ..deps import HasherDep
from . import service
from .schemas import ClientCredentials, ClientForRedirects, ClientView

router = APIRouter(prefix="/internal/clients", tags=["internal"])


def _view(client: service.Client) -> ClientView:
    return ClientView(client_id=client.id, name=client.name, scopes=list(client.scopes),
                      callback_urls=list(client.callback_urls), seed_mode=client.seed_mode)


@router.post("/authenticate", dependencies=[internal_only("gateway")], responses=problem_responses(401, 422))
async def authenticate(body: ClientCredentials, session: SessionDep, hasher: HasherDep) -> ClientView:
    """For the gateway: who is this API key, and what may it do."""
    return _view(await service.authenticate(session, hasher, body.client_id, body.client_secret))


@router.get("/{client_id}", dependencies=[internal_only("registration")], responses=problem_responses(404))
async def client_for_redirects(client_id: str, session: SessionDep, hasher: HasherDep) -> ClientForRedirects:
    """For registration: where this app's users may be sent back, and how to sign that redirect."""
    client = await service.find_client(session, client_id)
    key = await service.redirect_key_of(session, hasher, client_id)
    return ClientForRedirects(**_view(client).model_dump(), redirect_key=key.hex())
