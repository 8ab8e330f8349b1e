"""Internal routes for seeds: thin; the logic is in service.py.  Never routed by the gateway."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from twofold_common.errors import problem_responses
from twofold_common.runtime import SessionDep

from ..deps import FromAuth, FromAuthOrRegistration, FromRegistration, SeedVaultDep
from ..schemas import SubjectPath
from . import service
from .schemas import (
    Authenticator,
    ConfirmSeed,
    Enrolled,
    GeneratedSeed,
    GenerateSeed,
    RenameSeed,
    StoreSeed,
)

router = APIRouter(prefix="/internal", tags=["seeds"])
_AUTH_PROBLEMS = (401, 403, 422)


@router.post("/seeds", status_code=status.HTTP_201_CREATED, summary="Store a provider's seed, checking a code",
             responses={200: {"description": "A retry of this registration: the seed stored before"},
                        **problem_responses(*_AUTH_PROBLEMS, 409, 503)})
async def store_seed(_: FromRegistration, body: StoreSeed, response: Response, vault: SeedVaultDep) -> Enrolled:
    seed, created, recovery_codes = await vault.store(body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return Enrolled(**Authenticator.of(seed).model_dump(), recovery_codes=recovery_codes)


@router.post("/seeds/generate", status_code=status.HTTP_201_CREATED,
             summary="Generate a pending seed for native enrollment (otpauth URI and QR code)",
             responses={200: {"description": "A retry of this registration: the same pending seed"},
                        **problem_responses(*_AUTH_PROBLEMS, 409, 503)})
async def generate_seed(_: FromRegistration, body: GenerateSeed, response: Response,
                        vault: SeedVaultDep) -> GeneratedSeed:
    generated, created = await vault.generate(body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return generated


@router.post("/seeds/{seed_id}/confirm", summary="Activate a generated seed with a first code",
             responses=problem_responses(*_AUTH_PROBLEMS, 404, 409, 503))
async def confirm_seed(_: FromRegistration, seed_id: uuid.UUID, body: ConfirmSeed,
                       vault: SeedVaultDep) -> Enrolled:
    seed, recovery_codes = await vault.confirm(seed_id, body.code, body.enrollment)
    return Enrolled(**Authenticator.of(seed).model_dump(), recovery_codes=recovery_codes)


@router.get("/subjects/{subject}/authenticators", summary="The subject's seeds, without secrets",
            responses=problem_responses(*_AUTH_PROBLEMS))
async def list_authenticators(
    _: FromAuthOrRegistration, subject: SubjectPath, session: SessionDep
) -> list[Authenticator]:
    return [Authenticator.of(seed) for seed in await service.list_authenticators(session, subject)]


@router.patch("/seeds/{seed_id}", summary="Rename an authenticator",
              responses=problem_responses(*_AUTH_PROBLEMS, 404))
async def rename_seed(_: FromAuth, seed_id: uuid.UUID, body: RenameSeed, session: SessionDep) -> Authenticator:
    return Authenticator.of(await service.rename(session, seed_id, body.label))


@router.delete("/seeds/{seed_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Revoke an authenticator (not the last active one)",
               responses=problem_responses(*_AUTH_PROBLEMS, 404, 409))
async def revoke_seed(_: FromAuth, seed_id: uuid.UUID, session: SessionDep) -> None:
    await service.revoke(session, seed_id)
