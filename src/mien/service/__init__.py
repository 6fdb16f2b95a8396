"""HTTP service and web page (FastAPI): ``create_app(settings)``, run by ``mien serve``."""

from mien.service.app import ServiceSettings, create_app

__all__ = ["ServiceSettings", "create_app"]
