"""System check: a connector that declares a capability must implement its methods."""

from django.core import checks

from apps.integrations.connectors.base import CAPABILITY_METHODS, Connector


@checks.register()
def connector_capabilities_implemented(app_configs, **kwargs):
    from apps.integrations.connectors.registry import CONNECTOR_PATHS, get_connector_class

    errors = []
    for slug in CONNECTOR_PATHS:
        try:
            cls = get_connector_class(slug)
        except ModuleNotFoundError as exc:
            module = CONNECTOR_PATHS[slug].rsplit(".", 1)[0]
            if exc.name == module:
                errors.append(checks.Warning(f"Connector module for {slug!r} is missing", id="haat.W001"))
            else:
                errors.append(checks.Error(f"Connector {slug!r} does not import: {exc}", id="haat.E002"))
            continue
        except ImportError as exc:
            errors.append(checks.Error(f"Connector {slug!r} does not import: {exc}", id="haat.E002"))
            continue
        for capability in cls.capabilities:
            for method in CAPABILITY_METHODS[capability]:
                if getattr(cls, method) is getattr(Connector, method):
                    errors.append(checks.Error(
                        f"{cls.__name__} declares {capability.value} but does not implement {method}()",
                        id="haat.E001",
                    ))
    return errors
