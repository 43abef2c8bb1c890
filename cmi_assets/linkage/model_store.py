"""Where the trained linkage models live: one JSON artefact per model under
<data_dir>/linkage/models/, named by its sha256, and a pointer file naming the one
person_links scores with. The artefacts hold name frequencies, so they stay in the
identified zone's folder and never in metadata."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODELS_SUBDIR = ("linkage", "models")
CURRENT_MODEL_FILE = "current.txt"  # names the artefact person_links scores with


class NoLinkageModel(LookupError):
    """No model has been trained (the pointer file is missing)."""


@dataclass(frozen=True)
class ModelStore:
    data_dir: Path

    @property
    def models_dir(self) -> Path:
        return Path(self.data_dir).joinpath(*MODELS_SUBDIR)

    def save(self, artefact: dict) -> Path:
        """Write the artefact as <sha12>.json and make it the current model."""
        from cmi_assets.linkage.train import save_artefact

        path = self.models_dir / f"{artefact['sha256'][:12]}.json"
        save_artefact(artefact, path)
        (self.models_dir / CURRENT_MODEL_FILE).write_text(path.name, encoding="utf-8")
        return path

    def current_path(self) -> Path:
        """The current model's artefact; NoLinkageModel when none was trained."""
        pointer = self.models_dir / CURRENT_MODEL_FILE
        if not pointer.exists():
            raise NoLinkageModel("no linkage model trained yet: materialize linkage_model")
        return self.models_dir / pointer.read_text(encoding="utf-8").strip()
