"""Typed dependencies: the gateway's toolbox, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from twofold_common.internal_auth import InternalAuth
from twofold_common.runtime import RuntimeDep

from .callers import CallerChecks
from .limits import TokenBuckets
from .openapi import PublicApiDocument
from .proxy import Upstreams
from .settings import GatewaySettings


@dataclass
class Gateway:
    settings: GatewaySettings
    upstreams: Upstreams
    callers: CallerChecks
    open_limits: TokenBuckets
    document: PublicApiDocument
    internal_auth: InternalAuth


async def get_gateway(runtime: RuntimeDep) -> Gateway:
    return runtime.state["gateway"]


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
