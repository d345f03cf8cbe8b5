"""The `dhkfp` provider: its configuration, the data source, and the plugin server.

The `tf` framework speaks Terraform's plugin protocol; three of its calls are replaced
here because the framework's versions cannot express what reconcile decides:

- PlanResourceChange: reconcile's `check` (problems as diagnostics at their attribute),
  `plan` (its `replaces` become `requires_replace`, so `# forces replacement` shows
  exactly where it does in a Pulumi diff) and `planned_outputs`; the framework's own
  compares attributes one by one and never checks.
- ValidateResourceConfig and ReadDataSource: values decoded by the schema (dynamic
  attributes arrive as `[type, value]`).

The provider holds only its BackendConfig; every call makes its own Backend (the gRPC
server runs calls on several threads), whose reads are plain HTTP (`backends/rest.py`).

Terraform starts the plugin 3 times per command (schema, validation, then plan or apply),
so start and exit are kept short: the schema and Validate* calls import neither kfp nor
Pulumi, reads import no kfp, clean checks are remembered across processes (`checks.py`),
so a no-op plan imports neither kfp nor pydantic; the TLS certificate is kept in the
user's cache, and the process ends with `os._exit` once Terraform shuts it down.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from tf.gen import tfplugin_pb2 as pb
from tf.provider import ProviderServicer, _decode_state, _encode_state
from tf.types import Unknown
from tf.utils import Diagnostics, _to_attribute_path, to_dynamic_value

from dh_kfp_pulumi.terraform.checks import CheckMemo, cache_folder
from dh_kfp_pulumi.terraform.resources import RESOURCE_CLASSES, add_error
from dh_kfp_pulumi.terraform.schema import PIPELINE, PROVIDER

ADDRESS = "dh-kfp.local/dh-kfp/dhkfp"  # a source address no registry serves: dev_overrides only


def _provider_config(config: dict[str, Any]) -> Any:
    """A BackendConfig from the provider block (raises SpecError naming the setting)."""
    from dh_kfp_pulumi.backends import config_from_mapping

    return config_from_mapping(
        {k: v for k, v in config.items() if v is not None and k != "stack"}
    )


def _owner(config: dict[str, Any]) -> str:
    """`terraform/<stack>`: the owner mark of the KFP objects this configuration makes."""
    from dh_kfp_pulumi.naming import owner_of

    stack = config.get("stack")
    return owner_of("terraform", stack if isinstance(stack, str) else "default")


class Provider:
    """The provider block: where KFP is and the build settings, held as a BackendConfig."""

    def __init__(self) -> None:
        self._settings: Any = None  # the BackendConfig, made when first needed
        self.unknown: list[str] = []  # settings not known yet (from resources still to make)
        self.owner = "terraform/default"  # from the `stack` setting at configure
        self.checks = CheckMemo.default()  # clean checks of earlier plugin processes
        self.snapshots: Any = None  # this provider's read snapshots (backends/snapshot.py)
        self._lock = threading.Lock()

    @property
    def config(self) -> Any:
        """The BackendConfig (defaults until configured); made on first use, so the plugin
        process that only answers the schema never imports `backends`."""
        if self._settings is None:
            from dh_kfp_pulumi.backends import BackendConfig

            self._settings = BackendConfig()
        return self._settings

    @config.setter
    def config(self, value: Any) -> None:
        self._settings = value

    def get_model_prefix(self) -> str:
        return "dhkfp_"

    def full_name(self) -> str:
        return ADDRESS

    def get_provider_schema(self, diags: Diagnostics) -> Any:
        return PROVIDER

    def validate_config(self, diags: Diagnostics, config: dict[str, Any]) -> None:
        self._config(diags, config)

    def configure_provider(self, diags: Diagnostics, config: dict[str, Any]) -> None:
        self.unknown = sorted(k for k, v in config.items() if v is Unknown)
        made = self._config(diags, config)
        if made is not None:
            self.config = made
        self.owner = _owner(config)

    def backend(self) -> Any:
        """A Backend for a call that may write; it ends this provider's read snapshots.

        Its reads are plain HTTP (`RestBackend`): a refresh imports no kfp, and a plan
        whose checks are remembered (`checks.py`) none at all.
        """
        from dh_kfp_pulumi.backends.rest import RestBackend

        self._reachable()
        if self.snapshots is not None:
            self.snapshots.forget()
        return RestBackend(self.config)

    def reader(self, state: Any) -> Any:
        """A Backend for a resource's refresh: the gets of a plan's burst of reads answered
        by one list per project (pipelines) and experiment (recurring runs).

        The snapshots are this provider's own, and a plugin process serves one command:
        what a refresh reads was listed during that command.
        """
        from dh_kfp_pulumi.backends.rest import RestSnapshotBackend
        from dh_kfp_pulumi.backends.snapshot import Snapshots

        self._reachable()
        with self._lock:  # Terraform reads on several threads at once
            if self.snapshots is None:
                self.snapshots = Snapshots()
        return RestSnapshotBackend(
            self.config,
            project=str(state.get("project") or ""),
            experiment_id=str(state.get("experiment_id") or ""),
            snapshots=self.snapshots,
        )

    def _reachable(self) -> None:
        """No KFP call while a setting is unknown: it could be another KFP."""
        from dh_kfp_pulumi.errors import DhKfpError

        if self.unknown:
            raise DhKfpError(
                f"provider dhkfp: {', '.join(self.unknown)} not known yet (set from a resource "
                "still to be made); KFP cannot be reached before it is: apply that resource "
                "first (terraform apply -target=...)"
            )

    def _config(self, diags: Diagnostics, config: dict[str, Any]) -> Any:
        from dh_kfp_pulumi.errors import SpecError

        known = {k: v for k, v in config.items() if v is not Unknown}
        try:
            return _provider_config(known)
        except SpecError as exc:
            roots = {f"dh-kfp:{a.name}": a.name for a in PROVIDER.attributes}
            for p in exc.problems:
                name = roots.get(p.path, "")
                value = "***" if name == "token" else p.value
                shown = str(type(p)(name or p.path, p.message, value, p.has_value))
                diags.add_error(f"provider dhkfp: {shown}", "", path=[name] if name else None)
            return None

    def get_data_sources(self) -> list[type]:
        return [Pipeline]

    def get_resources(self) -> list[type]:
        return list(RESOURCE_CLASSES)

    def new_resource(self, klass: type) -> Any:
        return klass(self)

    def new_data_source(self, klass: type) -> Any:
        return klass(self)


class Pipeline:
    """Data source `dhkfp_pipeline`: a pipeline by display name or id, with its newest version."""

    def __init__(self, provider: Provider):
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "pipeline"

    @classmethod
    def get_schema(cls) -> Any:
        return PIPELINE

    def validate(self, diags: Diagnostics, type_name: str, config: dict[str, Any]) -> None:
        name = config.get("name")
        if name is not Unknown and (not isinstance(name, str) or not name.strip()):
            diags.add_error("name: required: a pipeline's display name or id", path=["name"])

    def read(self, ctx: Any, config: dict[str, Any]) -> dict[str, Any] | None:
        from dh_kfp_pulumi.reconcile import workflow

        name = str(config["name"])
        try:
            found, outputs, inputs = workflow.read(name, {}, self.provider.backend())
        except Exception as exc:  # noqa: BLE001
            add_error(ctx.diagnostics, f"cannot read pipeline {name!r}", exc)
            return None
        if not found:
            ctx.diagnostics.add_error(f"no KFP pipeline has the name or id {name!r}", path=["name"])
            return None
        return {
            "name": name,
            "id": found,
            "pipeline_id": found,
            "pipeline_name": outputs.get("pipeline_name") or "",
            "project": inputs.get("project") or "",
            "workflow": inputs.get("name") or "",
            "version_id": outputs.get("version_id") or "",
            "version_name": outputs.get("version_name") or "",
            "spec_hash": outputs.get("spec_hash") or "",
            "url": outputs.get("url") or "",
        }


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """Any exception becomes an error diagnostic (Terraform shows it), never a gRPC failure."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: Any) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:  # noqa: BLE001
            import traceback

            traceback.print_exc()  # to Terraform's log (TF_LOG=debug), not to the user
            diags = Diagnostics()
            add_error(diags, f"dhkfp {method.__name__}", exc)
            response = getattr(pb, method.__name__).Response
            return response(diagnostics=diags.to_pb())

    return wrapper


def _config(schema: Any, value: Any) -> dict[str, Any]:
    """A provider or data source config decoded with its schema (null: {})."""
    _, config = _decode_state({a.name: a for a in schema.attributes}, {}, value)
    return config or {}


class Servicer(ProviderServicer):
    """The framework's servicer with reconcile's plan, and typed values in validation."""

    @_guarded
    def GetProviderSchema(self, request: Any, context: Any) -> Any:
        """The framework's answer, saying the schema may be skipped: Terraform starts the
        plugin 3 times a command and, told so, asks for the schema only once."""
        response = super().GetProviderSchema(request, context)
        response.server_capabilities.get_provider_schema_optional = True
        return response

    def _schema(self, type_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._get_res_attrs(type_name), self._get_res_blocks(type_name)

    @_guarded
    def ValidateResourceConfig(self, request: Any, context: Any) -> Any:
        attrs, blocks = self._schema(request.type_name)
        _, config = _decode_state(attrs, blocks, request.config)
        diags = Diagnostics()
        inst = self.app.new_resource(self._get_res_cls(request.type_name))
        inst.validate(diags, request.type_name, config or {})
        return pb.ValidateResourceConfig.Response(diagnostics=diags.to_pb())

    @_guarded
    def PlanResourceChange(self, request: Any, context: Any) -> Any:
        type_name = request.type_name
        attrs, blocks = self._schema(type_name)
        _, prior = _decode_state(attrs, blocks, request.prior_state)
        proposed_enc, proposed = _decode_state(attrs, blocks, request.proposed_new_state)
        _, config = _decode_state(attrs, blocks, request.config)
        diags = Diagnostics()
        if proposed is None:  # a destroy: nothing to plan
            return pb.PlanResourceChange.Response(planned_state=request.proposed_new_state)
        inst = self.app.new_resource(self._get_res_cls(type_name))
        planned, replaces = inst.plan_change(diags, prior, config or {}, proposed)
        if planned is None:
            return pb.PlanResourceChange.Response(diagnostics=diags.to_pb())
        return pb.PlanResourceChange.Response(
            planned_state=_encode_state(attrs, blocks, planned, proposed_enc),
            requires_replace=[_to_attribute_path([name]) for name in replaces],
            diagnostics=diags.to_pb(),
        )

    @_guarded
    def UpgradeResourceState(self, request: Any, context: Any) -> Any:
        """The stored JSON as it is (schema version 0), minus attributes no longer in it.

        Handed back as JSON for Terraform to decode with the schema: the framework's
        version re-encodes it as untyped msgpack, which breaks dynamic attributes (their
        JSON form is `{"value": ..., "type": ...}`, their msgpack form `[type, value]`).
        """
        import json

        state = json.loads(request.raw_state.json or "null")
        if isinstance(state, dict):
            attrs, blocks = self._schema(request.type_name)
            state = {k: v for k, v in state.items() if k in attrs or k in blocks}
        return pb.UpgradeResourceState.Response(
            upgraded_state=pb.DynamicValue(json=json.dumps(state).encode())
        )

    @_guarded
    def ApplyResourceChange(self, request: Any, context: Any) -> Any:
        return super().ApplyResourceChange(request, context)

    @_guarded
    def ReadResource(self, request: Any, context: Any) -> Any:
        return super().ReadResource(request, context)

    @_guarded
    def ImportResourceState(self, request: Any, context: Any) -> Any:
        return super().ImportResourceState(request, context)

    def _provider_config(self, value: Any) -> dict[str, Any]:
        return _config(PROVIDER, value)

    @_guarded
    def ValidateProviderConfig(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        self.app.validate_config(diags, self._provider_config(request.config))
        return pb.ValidateProviderConfig.Response(diagnostics=diags.to_pb())

    @_guarded
    def ConfigureProvider(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        self.app.configure_provider(diags, self._provider_config(request.config))
        return pb.ConfigureProvider.Response(diagnostics=diags.to_pb())

    @_guarded
    def ValidateDataResourceConfig(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        Pipeline(self.app).validate(diags, request.type_name, _config(PIPELINE, request.config))
        return pb.ValidateDataResourceConfig.Response(diagnostics=diags.to_pb())

    @_guarded
    def ReadDataSource(self, request: Any, context: Any) -> Any:
        from tf.iface import ReadDataContext

        diags = Diagnostics()
        config = _config(PIPELINE, request.config)
        state = Pipeline(self.app).read(ReadDataContext(diags, request.type_name), config)
        attrs = {a.name: a for a in PIPELINE.attributes}
        encoded = _encode_state(attrs, {}, state, None) if state else to_dynamic_value(None)
        return pb.ReadDataSource.Response(state=encoded, diagnostics=diags.to_pb())


# ---- the plugin process ------------------------------------------------------------------

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"


TLS_CACHE = "terraform-plugin-tls.json"
TLS_DAYS = 30


def tls_identity() -> tuple[bytes, Any]:
    """(the certificate in DER, grpc server credentials): go-plugin's AutoMTLS wants the
    plugin's own self-signed certificate in the handshake.

    Made once and kept in the user's cache (0600, renewed a day before it expires), not
    made per process as the framework does: Terraform starts the plugin 3 times per
    command, and importing `cryptography` and signing took ~35 ms each time. Where the
    cache cannot be written, a fresh one for this process.
    """
    import base64
    import json
    import time

    import grpc

    folder = cache_folder()
    path = os.path.join(folder or "", TLS_CACHE)
    try:
        if folder is None:  # no home to keep it in: never a `~` in the working dir
            raise ValueError("no cache directory")
        with open(path) as handle:
            kept = json.load(handle)
        if kept["not_after"] - time.time() < 86400:
            raise ValueError("expires within a day")
        der, key, cert = base64.b64decode(kept["der"]), kept["key"], kept["cert"]
    except (OSError, ValueError, KeyError, TypeError):
        der, key, cert = _new_certificate()
        record = {"der": base64.b64encode(der).decode(), "key": key, "cert": cert,
                  "not_after": time.time() + TLS_DAYS * 86400}  # fmt: skip
        try:
            if folder is None:
                raise OSError("no cache directory")
            os.makedirs(folder, mode=0o700, exist_ok=True)
            temporary = f"{path}.{os.getpid()}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
            os.replace(temporary, path)  # atomic: plugins started together each read a whole one
        except OSError:
            pass
    credentials = grpc.ssl_server_credentials(
        private_key_certificate_chain_pairs=[(key.encode(), cert.encode())],
        require_client_auth=False,
    )
    return der, credentials


def _new_certificate() -> tuple[bytes, str, str]:
    """(DER, key PEM, certificate PEM) of a self-signed `localhost` certificate, as the `tf`
    framework makes it (an EC key: quicker to make than its RSA one)."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=True, key_cert_sign=True, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    purposes = [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=TLS_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage(purposes), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode()
    der = certificate.public_bytes(serialization.Encoding.DER)
    return der, key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


def serve(argv: list[str] | None = None) -> int:
    """Serve the provider as a Terraform plugin: go-plugin's handshake on stdout, TLS on a unix socket."""
    import base64
    import tempfile
    from concurrent import futures

    import grpc
    from tf.gen import tfplugin_pb2_grpc as rpc

    if not os.environ.get(MAGIC_COOKIE_KEY):
        print(
            "terraform-provider-dhkfp is a Terraform plugin: Terraform starts it. Point a "
            "dev_overrides CLI config at the directory holding it (see the README, "
            "'Terraform').",
            file=sys.stderr,
        )
        return 1
    stopping = threading.Event()

    class Shutdown(grpc.ServerInterceptor):
        """go-plugin's Shutdown call (Terraform is done with the plugin) wakes the main thread."""

        def intercept_service(self, continuation: Any, details: Any) -> Any:
            if details.method == "/plugin.GRPCController/Shutdown":
                stopping.set()
            return continuation(details)

    server = grpc.server(
        thread_pool=futures.ThreadPoolExecutor(max_workers=10), interceptors=[Shutdown()]
    )
    rpc.add_ProviderServicer_to_server(Servicer(Provider()), server)
    with tempfile.TemporaryDirectory(prefix="dhkfp-") as tmp:
        sock = f"{tmp}/plugin.sock"
        chain, credentials = tls_identity()
        server.add_secure_port(f"unix://{sock}", credentials)
        server.start()
        cert = base64.b64encode(chain).decode().rstrip("=")
        print(f"1|6|unix|{sock}|grpc|{cert}", flush=True)
        stopping.wait()
        server.stop(grace=1).wait()
    return 0


def main() -> None:
    """Console script `terraform-provider-dhkfp`.

    After serving, the process ends at once (`os._exit`): Terraform waits for the plugin to
    exit, three times per command, and an interpreter's orderly teardown of grpc, kfp and
    their threads took 0.1-0.15 s of that. Nothing is left to flush but stdout/stderr.
    """
    code = serve(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
