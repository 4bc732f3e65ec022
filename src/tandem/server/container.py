"""Builds the one set of services a process uses, from settings read once. No module state:
everything hangs off the app (or the embedded client) that owns a `Services`."""

from __future__ import annotations

from dataclasses import dataclass

from tandem.audit.service import AuditLog
from tandem.audit.store import AuditStore
from tandem.core.auth import Authorizer, Principal
from tandem.core.config import Settings, default_data_roots, oidc_settings
from tandem.core.outbound import OutboundPolicy
from tandem.data.ingest import HashCache
from tandem.data.limits import DataLimits
from tandem.data.service import DataService
from tandem.data.store import DatasetStore
from tandem.evaluation.service import EvaluationService
from tandem.gc.service import GcService, Purgers
from tandem.governance.gate_service import GateService
from tandem.governance.notify import Notifier
from tandem.governance.register_service import RegisterService
from tandem.governance.service import GovernanceService
from tandem.governance.store import GovernanceStore
from tandem.identity.oidc import OidcClient
from tandem.identity.service import IdentityService
from tandem.identity.store import IdentityStore
from tandem.lineage.service import LineageService
from tandem.lineage.store import LineageStore
from tandem.projects.service import ProjectService
from tandem.projects.store import ProjectStore
from tandem.registry.cards import CardService
from tandem.registry.service import RegistryService
from tandem.registry.store import RegistryStore
from tandem.store.blob_index import BlobIndex
from tandem.store.blobs import BlobStore, open_blob_store
from tandem.store.db import Database, open_database
from tandem.tracking.service import TrackingService
from tandem.tracking.store import RunStore


@dataclass
class Services:
    settings: Settings
    db: Database
    blobs: BlobStore
    auth: Authorizer
    audit: AuditLog
    identity: IdentityService
    projects: ProjectService
    tracking: TrackingService
    data: DataService
    registry: RegistryService
    evaluations: EvaluationService
    cards: CardService
    lineage: LineageService
    governance: GovernanceService
    gates: GateService
    registers: RegisterService
    notifier: Notifier
    gc: GcService
    owner: Principal
    oidc: OidcClient | None = None

    @classmethod
    def build(cls, settings: Settings, *, embedded: bool = False) -> Services:
        """`embedded`: the workspace is this process's own, so it may read data by path from
        the repository folder by default; a server reads only from configured data roots."""
        settings.home.mkdir(parents=True, exist_ok=True)
        db = open_database(settings.database_url)
        blobs = open_blob_store(settings.artifacts)
        auth = Authorizer()
        audit = AuditLog(db, AuditStore(db), auth)
        project_store = ProjectStore(db)
        identity_store = IdentityStore()
        run_store = RunStore(db)
        blob_index = BlobIndex(db, user_quota_bytes=settings.user_quota_bytes)
        # projects sit below tracking: a project's run count is tracking's, wired in here
        projects = ProjectService(db, project_store, auth, audit, run_store.live_run_count)
        identity = IdentityService(db, identity_store, projects, auth, audit)
        tracking = TrackingService(db, run_store, projects, blobs, blob_index, auth, audit)
        dataset_store = DatasetStore()
        data = DataService(
            db, dataset_store, projects, project_store, run_store, blobs, blob_index, auth, audit,
            data_roots=default_data_roots(settings) if embedded else settings.data_roots,
            workspace=settings.home.resolve(),
            hash_cache=HashCache.of_workspace(settings.home),
            executor=settings.executor,
            s3_roots=settings.data_s3_roots,
            artifacts=settings.artifacts,
            limits=DataLimits(settings.max_columns, settings.profile_budget_seconds),
        )  # fmt: skip
        registry_store = RegistryStore()
        registry = RegistryService(db, registry_store, project_store, run_store, blobs, auth, audit)
        evaluations = EvaluationService(
            db, project_store, registry_store, dataset_store, auth, audit
        )
        cards = CardService(registry, tracking, data, evaluations, auth)
        lineage = LineageService(
            db, LineageStore(), project_store, run_store, dataset_store, registry_store, auth, audit
        )
        governance = GovernanceService(
            db, GovernanceStore(), project_store, identity, registry, evaluations,
            tracking, auth, audit,
        )  # fmt: skip
        outbound = OutboundPolicy(settings.outbound_allow_hosts)
        notifier = Notifier(db, project_store, auth, audit, outbound)
        gates = GateService(
            db, governance.store, project_store, governance, registry, data, tracking, auth,
            audit, notifier,
        )  # fmt: skip
        registers = RegisterService(db, project_store, identity, notifier, auth, audit)
        # gc purges through the domains' services, in the order their foreign keys need
        purgers = Purgers(
            run_links=(data.forget_runs, registry.forget_runs),
            expired=(data.purge_expired,),
            project_rows=(
                data.purge_project, evaluations.purge_project, governance.purge_project,
                registry.purge_project,
            ),
            orphans=(lineage.purge_orphans,),
        )  # fmt: skip
        gc = GcService(
            db, blobs, blob_index, auth, audit, projects=projects, runs=tracking,
            purgers=purgers, staging=settings.home.resolve() / "staging",
        )  # fmt: skip
        return cls(
            settings=settings,
            db=db,
            blobs=blobs,
            auth=auth,
            audit=audit,
            identity=identity,
            projects=projects,
            tracking=tracking,
            data=data,
            registry=registry,
            evaluations=evaluations,
            cards=cards,
            lineage=lineage,
            governance=governance,
            gates=gates,
            registers=registers,
            notifier=notifier,
            gc=gc,
            owner=Principal.local_owner(),
            oidc=OidcClient(oidc, outbound=outbound) if (oidc := oidc_settings(settings)) else None,
        )

    def close(self) -> None:
        self.tracking.close()
        self.db.dispose()
        self.data.hash_cache.close()
        if self.oidc is not None:
            self.oidc.close()
