"""Builds the one set of services a process uses, from settings read once. No module state:
everything hangs off the app (or the embedded client) that owns a `Services`."""

from __future__ import annotations

from dataclasses import dataclass, fields

from tandem.alerting.service import AlertService, monitor_feed
from tandem.alerting.store import AlertStore, DeliveryStore, SilenceStore
from tandem.audit.service import AuditLog
from tandem.audit.store import AuditStore
from tandem.core.auth import Authorizer, Principal
from tandem.core.config import Settings, default_data_roots
from tandem.core.outbound import OutboundPolicy
from tandem.data.ingest import HashCache
from tandem.data.limits import DataLimits
from tandem.data.service import DataService
from tandem.data.store import DatasetStore
from tandem.deployments.service import DeploymentNodes, DeploymentService
from tandem.deployments.store import DeploymentStore
from tandem.evaluation.service import EvaluationService
from tandem.evaluation.store import EvaluationStore
from tandem.gc.service import GcService, Purgers
from tandem.governance.decisions.service import DecisionService
from tandem.governance.decisions.store import DecisionStore
from tandem.governance.gates.service import GateService
from tandem.governance.gates.store import GateStore
from tandem.governance.notifications.service import Notifier
from tandem.governance.notifications.store import NotificationStore
from tandem.governance.plan.service import PlanService
from tandem.governance.plan.store import PlanStore
from tandem.governance.registers.service import ActionNodes, RegisterService
from tandem.governance.registers.store import RegisterStore
from tandem.http.deps import ServiceRegistry
from tandem.identity.oidc import OidcClient, oidc_settings
from tandem.identity.service import IdentityService
from tandem.identity.store import IdentityStore
from tandem.incidents.service import IncidentService, PlaybookSection, PostmortemNodes
from tandem.incidents.store import IncidentStore
from tandem.lineage.service import LineageLinks, LineageService
from tandem.lineage.store import LineageStore
from tandem.monitoring.service import MonitoringService
from tandem.monitoring.store import MonitorStore
from tandem.outcomes.service import OutcomeService
from tandem.outcomes.store import OutcomeStore
from tandem.predictions.service import PredictionService
from tandem.predictions.store import PredictionStore
from tandem.projects.service import ProjectService
from tandem.projects.store import ProjectStore
from tandem.registry.cards import CardService
from tandem.registry.service import RegistryService
from tandem.registry.store import RegistryStore
from tandem.server.schema import blob_references
from tandem.store.blob_index import BlobIndex
from tandem.store.blobs import BlobStore, open_blob_store
from tandem.store.db import Database, open_database
from tandem.tracking.service import TrackingService
from tandem.tracking.store import RunStore

_NOT_SERVED = frozenset({"db", "blobs", "owner"})  # the routes reach these through services


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
    plan: PlanService
    gates: GateService
    decisions: DecisionService
    registers: RegisterService
    notifier: Notifier
    deployments: DeploymentService
    predictions: PredictionService
    incidents: IncidentService
    monitoring: MonitoringService
    outcomes: OutcomeService
    alerts: AlertService
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
        blob_index = BlobIndex(db, blob_references(), user_quota_bytes=settings.user_quota_bytes)
        # projects sit below tracking: a project's run count is tracking's, wired in here
        projects = ProjectService(db, project_store, auth, audit, run_store.live_run_count)
        identity = IdentityService(db, identity_store, projects, auth, audit)
        tracking = TrackingService(db, run_store, projects, blobs, blob_index, auth, audit)
        dataset_store = DatasetStore()
        lineage_store = LineageStore()
        links = LineageLinks(lineage_store)
        data = DataService.build(
            db, dataset_store, projects, tracking, links, blobs, blob_index, auth, audit,
            data_roots=default_data_roots(settings) if embedded else settings.data_roots,
            workspace=settings.home.resolve(),
            hash_cache=HashCache.of_workspace(settings.home),
            executor=settings.executor,
            s3_roots=settings.data_s3_roots,
            artifacts=settings.artifacts,
            limits=DataLimits(settings.max_columns, settings.profile_budget_seconds),
        )  # fmt: skip
        registry_store = RegistryStore()
        registry = RegistryService(
            db, registry_store, projects, tracking, links, blobs, auth, audit
        )
        evaluations = EvaluationService(
            db, EvaluationStore(), projects, registry, data, links, auth, audit
        )
        cards = CardService(registry, tracking, data, evaluations, auth)
        lineage = LineageService(
            db, lineage_store, projects, auth, audit,
            runs=tracking, datasets=data, models=registry, evaluations=evaluations,
        )  # fmt: skip
        plan = PlanService(
            db, PlanStore(), projects, identity, registry, evaluations, tracking, auth, audit
        )
        outbound = OutboundPolicy(settings.outbound_allow_hosts)
        notifier = Notifier(
            db, NotificationStore(), projects, auth, audit, outbound,
            activity_members=plan.activity_members,
        )  # fmt: skip
        decisions = DecisionService(db, DecisionStore(), projects, auth, audit)
        gates = GateService(
            db, GateStore(), projects, plan, decisions, registry, data, tracking, auth,
            audit, notifier,
        )  # fmt: skip
        registers = RegisterService(db, RegisterStore(), projects, identity, notifier, auth, audit)
        deployments = DeploymentService(
            db, DeploymentStore(), projects, registry, data, gates, notifier, auth, audit
        )
        gates.use_rollback_targets(deployments)  # gates read production traffic through it
        deployments.use_lineage(links)  # model version -> deployment -> endpoint
        predictions = PredictionService(
            db,
            PredictionStore(is_sqlite=db.is_sqlite),
            projects,
            blobs,
            blob_index,
            auth,
            audit,
            endpoints=deployments,
        )
        monitoring = MonitoringService(
            db, MonitorStore(is_sqlite=db.is_sqlite), projects, deployments, predictions,
            registry, data, auth, audit, plan=plan,
        )  # fmt: skip
        deployments.use_deploy_hook(monitoring)  # a release gets the default monitors
        gates.use_monitoring_plans(monitoring)  # the "monitoring plan" item reads monitors
        plan.use_section("monitors", monitoring)  # project.yaml's `monitors:`
        outcomes = OutcomeService(
            db, OutcomeStore(is_sqlite=db.is_sqlite), projects, blobs, blob_index, auth, audit,
            log=predictions, endpoints=deployments, versions=registry, criteria=plan,
        )  # fmt: skip
        # performance, estimated-performance and kpi monitors read them
        monitoring.use_outcomes(outcomes)
        alerts = AlertService(
            db, AlertStore(is_sqlite=db.is_sqlite), SilenceStore(), DeliveryStore(), projects,
            notifier, auth, audit, outbound, raci=plan.activity_letters,
            feed=monitor_feed(monitoring, projects), public_url=settings.public_url,
        )  # fmt: skip
        incidents = IncidentService(
            db, IncidentStore(), projects, identity, plan, registers, deployments, gates,
            registry, data, notifier, links, auth, audit,
        )  # fmt: skip
        incidents.use_figures(predictions, outcomes)  # a postmortem's impact
        plan.use_section("playbooks", PlaybookSection(incidents))  # `playbooks:` in project.yaml
        lineage.use_incidents(incidents, PostmortemNodes(incidents))  # nodes of the graph
        lineage.use_deployments(deployments, DeploymentNodes(deployments))
        lineage.use_actions(ActionNodes(registers))
        alerts.use_page_handler(incidents)  # a page opens or joins an incident
        monitoring.use_alerts(alerts)  # a deleted monitor's alerts resolve
        # gc purges through the domains' services, in the order their foreign keys need
        purgers = Purgers(
            run_links=(data.forget_runs, registry.forget_runs),
            expired=(data.purge_expired, deployments.purge_expired),
            project_rows=(
                incidents.purge_project, alerts.purge_project, monitoring.purge_project,
                data.purge_project, evaluations.purge_project, gates.purge_project,
                decisions.purge_project, notifier.purge_project, plan.purge_project,
                registers.purge_project, deployments.purge_project, registry.purge_project,
                predictions.purge_project, outcomes.purge_project,
            ),
            orphans=(links.purge_orphans,),
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
            plan=plan,
            gates=gates,
            decisions=decisions,
            registers=registers,
            notifier=notifier,
            deployments=deployments,
            predictions=predictions,
            incidents=incidents,
            monitoring=monitoring,
            outcomes=outcomes,
            alerts=alerts,
            gc=gc,
            owner=Principal.local_owner(),
            oidc=OidcClient(oidc, outbound=outbound) if (oidc := oidc_settings(settings)) else None,
        )

    def service_registry(self) -> ServiceRegistry:
        """Each service by its type, for the routes (`tandem.http.deps.service`): every field
        but the infrastructure (a service added to the container is served with no more ado)."""
        served = (getattr(self, f.name) for f in fields(self) if f.name not in _NOT_SERVED)
        return ServiceRegistry({type(s): s for s in served if s is not None})

    def close(self) -> None:
        self.tracking.close()
        self.db.dispose()
        self.data.hash_cache.close()
        if self.oidc is not None:
            self.oidc.close()
