"""`client.governance.gates`: open a model version's gate, read its checklist, sign, waive a
criterion, attest a project item, complete or cancel it."""

from __future__ import annotations

import builtins

from pydantic import TypeAdapter

from tandem.governance.gates.models import (
    Attestation,
    Gate,
    GateOpen,
    SignDecision,
    SignOffCreate,
    WaiverCreate,
)
from tandem.registry.models import Stage
from tandem.sdk.governance.resource import ProjectResource, q

_GATES = TypeAdapter(list[Gate])


class Gates(ProjectResource):
    def open(self, model: str, to: Stage | str, *, project: str | None = None) -> Gate:
        """Request moving `model` (`NAME@N`) to stage `to`: opens its gate."""
        body = GateOpen(model=model, to=Stage(to))
        return Gate.model_validate_json(self._send("POST", project, "gates", body))

    def list(self, *, all: bool = False, project: str | None = None) -> builtins.list[Gate]:
        """Open gates (every gate with `all=True`), newest first."""
        params = {"all": "true"} if all else None
        response = self._http.request("GET", self._path(project, "gates"), params=params)
        return _GATES.validate_json(response.content)

    def get(self, gate_id: str, *, project: str | None = None) -> Gate:
        response = self._http.request("GET", self._path(project, f"gates/{q(gate_id)}"))
        return Gate.model_validate_json(response.content)

    def check(self, model: str, to: Stage | str, *, project: str | None = None) -> Gate:
        """Whether moving `model` to `to` would pass now; `.passes`, and the checklist says
        why. Changes nothing."""
        response = self._http.request(
            "GET",
            self._path(project, "gates/check"),
            params={"model": model, "to": Stage(to).value},
        )
        return Gate.model_validate_json(response.content)

    def sign(
        self,
        gate_id: str,
        decision: SignDecision | str,
        comment: str = "",
        *,
        project: str | None = None,
    ) -> Gate:
        """Approve or reject gate `gate_id` as yourself (a rejection needs a comment)."""
        body = SignOffCreate(decision=SignDecision(decision), comment=comment)
        return Gate.model_validate_json(
            self._send("POST", project, f"gates/{q(gate_id)}/signoffs", body)
        )

    def complete(self, gate_id: str, *, project: str | None = None) -> Gate:
        """Pass the gate if everything holds now (moving the version)."""
        response = self._http.request("POST", self._path(project, f"gates/{q(gate_id)}/complete"))
        return Gate.model_validate_json(response.content)

    def cancel(self, gate_id: str, reason: str = "", *, project: str | None = None) -> Gate:
        response = self._http.request(
            "POST", self._path(project, f"gates/{q(gate_id)}/cancel"), json={"reason": reason}
        )
        return Gate.model_validate_json(response.content)

    def waive(
        self, gate_id: str, criterion: str, reason: str, *, project: str | None = None
    ) -> Gate:
        """Waive `criterion` for the gate's version, as its owner role, saying why (recorded as
        an accepted decision)."""
        body = WaiverCreate(criterion=criterion, reason=reason)
        return Gate.model_validate_json(
            self._send("POST", project, f"gates/{q(gate_id)}/waivers", body)
        )

    def attest(
        self, gate_id: str, item: str, comment: str = "", *, project: str | None = None
    ) -> Gate:
        """Attest the project's own checklist item `item` on a gate (as the role it names)."""
        body = Attestation(item=item, comment=comment)
        return Gate.model_validate_json(
            self._send("POST", project, f"gates/{q(gate_id)}/attestations", body)
        )
