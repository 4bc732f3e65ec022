"""FastAPI dependencies every domain router uses: the services and the acting principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tandem.core.auth import Principal
from tandem.server.container import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_principal(request: Request) -> Principal:
    # The users-and-roles capability resolves tokens and sessions here; until then the server
    # only listens on loopback and acts as the workspace owner.
    services: Services = request.app.state.services
    return services.owner


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
